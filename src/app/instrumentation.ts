// Tracing, loaded before the app: `node --import ./dist/src/app/instrumentation.js dist/src/app/server.js`
// (what `npm start` and `npm run worker` run). OpenTelemetry reads its standard OTEL_* variables itself;
// with no OTLP endpoint set (or OTEL_SDK_DISABLED=true) this file returns at once and no SDK is loaded,
// so tracing off costs nothing. It reads process.env directly because it runs before the config plugin
// exists (src/lib/config.ts documents the variables).
const env = process.env
const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT
if (endpoint && env.OTEL_SDK_DISABLED !== 'true' && env.OTEL_TRACES_EXPORTER !== 'none') {
  const { startTracing } = await import('./tracing.js')
  await startTracing()
}
