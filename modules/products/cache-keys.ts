// Products' cache keys: one entry per product, one count namespace for list totals.
export const PRODUCT_COUNT_NAMESPACE = 'products'
export const productCacheKey = (id: string) => `products:${id}`
