import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '.nx/**', '.warmpod/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // Libs never import apps; only the node agent reaches the runtime adapters;
      // domain code stays free of side-effecting libs.
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain'] },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'] },
            { sourceTag: 'type:messaging', onlyDependOnLibsWithTags: ['type:domain', 'type:util'] },
            { sourceTag: 'type:data', onlyDependOnLibsWithTags: ['type:domain', 'type:util'] },
            { sourceTag: 'type:adapter', onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:adapter'] },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:messaging', 'type:data', 'type:adapter'],
            },
            // Dev tools (launcher, benchmarks) drive the real system, so they may use its shared libs.
            {
              sourceTag: 'type:tool',
              onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:messaging', 'type:data', 'type:adapter', 'type:tool'],
            },
            {
              sourceTag: 'type:test',
              onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:messaging', 'type:data', 'type:adapter', 'type:tool'],
            },
            { sourceTag: 'scope:control', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:node', onlyDependOnLibsWithTags: ['scope:shared', 'scope:node'] },
            { sourceTag: 'scope:dev', onlyDependOnLibsWithTags: ['scope:shared', 'scope:dev'] },
          ],
        },
      ],
    },
  },
  {
    // Specs and their support (`testing/` folders) may use the dev tools (local registry, image
    // builder, key cleanup); production code may not: the rules above keep devkit and the
    // local cluster (type:tool, scope:dev) out of every lib's and app's own sources.
    files: ['**/*.spec.ts', '**/testing/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          depConstraints: [
            {
              sourceTag: '*',
              onlyDependOnLibsWithTags: ['type:domain', 'type:util', 'type:messaging', 'type:data', 'type:adapter', 'type:tool'],
            },
            { sourceTag: 'scope:control', onlyDependOnLibsWithTags: ['scope:shared', 'scope:dev'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared', 'scope:dev'] },
            { sourceTag: 'scope:node', onlyDependOnLibsWithTags: ['scope:shared', 'scope:node', 'scope:dev'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  // Formatting is Prettier's (`npm run lint` runs `prettier --check`); no lint rule argues with it.
  prettier,
];
