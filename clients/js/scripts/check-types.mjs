// `make js-check` (npm run check-types): fails if the committed hermes-client.d.ts or hermes-shared.d.ts is not
// what the JSDoc in hermes-client.js / hermes-shared.js generates now, or if an app's view of the types (types-test/consumer.ts) does not compile.
// Needs `npm ci` first (TypeScript is a pinned devDependency; see package-lock.json).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const DECLARATIONS = ['hermes-client.d.ts', 'hermes-shared.d.ts'];

function run(args) {
  const result = spawnSync(process.execPath, [tsc, ...args], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) {
    process.stderr.write(`tsc ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
    process.exit(1);
  }
}

const write = process.argv.includes('--write'); // `make js-types`: replace the committed files
const out = mkdtempSync(join(tmpdir(), 'hermes-dts-'));
try {
  run(['-p', 'tsconfig.json', '--outDir', out]); // also type-checks hermes-client.js (checkJs, strict)
  for (const name of DECLARATIONS) {
    const committed = join(root, name);
    if (write) {
      copyFileSync(join(out, name), committed);
      continue;
    }
    const fresh = readFileSync(join(out, name), 'utf8');
    let current = '';
    try {
      current = readFileSync(committed, 'utf8');
    } catch {
      // missing: reported as stale below
    }
    if (fresh !== current) {
      let diff = '';
      try {
        execFileSync('diff', ['-u', committed, join(out, name)], { encoding: 'utf8' });
      } catch (err) {
        diff = err.stdout || '';
      }
      process.stderr.write(`${diff}\n${name} is stale: run \`make js-types\` and commit it.\n`);
      process.exit(1);
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
if (write) {
  console.log(`wrote ${DECLARATIONS.join(', ')}`);
  process.exit(0);
}
run(['-p', 'types-test/tsconfig.json']);
console.log('hermes-client.d.ts and hermes-shared.d.ts are up to date and types-test/consumer.ts type-checks against it');
