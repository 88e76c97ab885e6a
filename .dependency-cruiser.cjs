// Module boundaries, checked in CI: a module may import another module only through its contract.ts.
module.exports = {
  forbidden: [
    {
      name: 'module-boundary',
      comment: 'Import another module only through its contract.ts (modules/README.md).',
      severity: 'error',
      from: { path: '^modules/([^/]+)/' },
      to: { path: '^modules/([^/]+)/', pathNot: ['^modules/$1/', '^modules/[^/]+/contract\\.ts$'] },
    },
    {
      name: 'plugins-not-into-modules',
      comment:
        'The spine and the shared plugins never import a module, not even its contract: modules hand them what they need at registration (app.credentials.use, app.events, decorated contracts).',
      severity: 'error',
      from: { path: '^(plugins|src)/' },
      to: { path: '^modules/' },
    },
    {
      name: 'layers-foundation',
      comment:
        'src/lib and src/db are the bottom layer: they import no plugin, no module, and nothing that composes the app (src/app, src/cli) or serves development only (src/dev).',
      severity: 'error',
      from: { path: '^src/(lib|db)/' },
      to: { path: '^(plugins|modules|src/app|src/cli|src/dev)/' },
    },
    {
      name: 'layers-top',
      comment:
        'src/app composes the application and src/cli and src/dev run it: plugins and modules never import them (they are handed what they need).',
      severity: 'error',
      from: { path: '^(plugins|modules)/' },
      to: { path: '^src/(app|cli|dev)/' },
    },
    {
      name: 'dev-only',
      comment: 'src/dev (the embedded database, the demo seed) is loaded only by development paths, never by buildApp.',
      severity: 'error',
      from: { path: '^src/app/app\\.ts$' },
      to: { path: '^src/dev/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { pathNot: '^node_modules' } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
  },
}
