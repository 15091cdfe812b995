import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    reporters: ['default'],
    server: {
      deps: {
        // ESM packages under @jupyterlab/ui-components that import files without extensions: let Vite resolve them.
        inline: [/@jupyter\/web-components/, /@jupyter\/react-components/, /@microsoft\/fast-/],
      },
    },
  },
});
