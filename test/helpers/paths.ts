/** Paths tests need. Tests run compiled, from dist/test/. */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root (tests run from dist/test/..., three levels down). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The example jobs shipped with Grex. */
export const exampleJobs = join(repoRoot, 'jobs');
/** Jobs written for tests (TypeScript and JavaScript). */
export const fixtureJobs = join(repoRoot, 'test', 'fixtures', 'jobs');
/** The compiled CLI. */
export const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'grex.cjs');
