// Module boundaries, checked in CI: a module may import another module only through its contract.ts.
module.exports = {
  forbidden: [
    {
      name: 'module-boundary',
      comment: 'Import another module only through its contract.ts (see DESIGN.md, "The module contract").',
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
