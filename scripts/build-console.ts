import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const consoleDir = fileURLToPath(new URL('../ca-service/console/', import.meta.url));
const outdir = fileURLToPath(new URL('../ca-service/dist/admin-console/', import.meta.url));

/**
 * Bundles the admin console (Preact) into ca-service/dist/admin-console/, where `GET /admin/` serves
 * it: one script and one stylesheet, nothing inline and nothing loaded from elsewhere, so the
 * page runs under a strict CSP. Type-checking is `tsc -b` (ca-service/console/tsconfig.json).
 */
export async function buildConsole(): Promise<void> {
  await build({
    entryPoints: { app: `${consoleDir}main.tsx` },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari15'],
    minify: true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]',
    legalComments: 'eof',
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildConsole();
  console.log(`admin console bundled into ${outdir}`);
}
