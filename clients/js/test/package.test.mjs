// The npm-shaped package around hermes-client.js: package.json, what `npm pack` would ship, and that the
// committed .d.ts declares everything the module exports. (The full .d.ts check, with TypeScript, is
// `make js-check`; this one needs no node_modules.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

test('package.json: name, version, ESM, exports with types, files, license', () => {
  assert.equal(pkg.name, 'hermes-notifications-client');
  assert.match(pkg.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.license, 'MIT');
  assert.deepEqual(pkg.exports['.'], { types: './hermes-client.d.ts', default: './hermes-client.js' });
  assert.deepEqual(Object.keys(pkg.exports['.']), ['types', 'default'], '"types" must come first to be used');
  assert.equal(pkg.types, pkg.exports['.'].types);
  assert.equal(pkg.main, pkg.exports['.'].default);
  for (const file of [pkg.exports['.'].types, pkg.exports['.'].default]) {
    assert.ok(existsSync(join(root, file)), `${file} is missing`);
    assert.ok(pkg.files.includes(file.replace(/^\.\//, '')), `${file} is not in "files"`);
  }
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), [], 'the client has no runtime dependencies');
});

test('TypeScript is pinned exactly, and package-lock.json agrees', () => {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const wanted = pkg.devDependencies.typescript;
  assert.match(wanted, /^\d+\.\d+\.\d+$/, 'an exact version: the generated .d.ts depends on it');
  assert.equal(lock.packages[''].devDependencies.typescript, wanted);
  assert.equal(lock.packages['node_modules/typescript'].version, wanted);
  assert.ok(lock.packages['node_modules/typescript'].integrity.startsWith('sha512-'));
});

test('importing the package by its name gives the module itself (exports resolve)', async () => {
  const byName = await import(pkg.name);
  const byPath = await import('../hermes-client.js');
  assert.equal(byName, byPath);
  assert.equal(byName.default, byName.createHermesClient);
});

test('the committed .d.ts declares every export of hermes-client.js', async () => {
  const declarations = readFileSync(join(root, pkg.types), 'utf8');
  const names = Object.keys(await import('../hermes-client.js'));
  assert.ok(names.length >= 7, names.join(', '));
  for (const name of names) {
    const pattern =
      name === 'default'
        ? /^export default \w+;$/m
        : new RegExp(`^export (?:declare )?(?:function|const|class) ${name}\\b`, 'm');
    assert.match(declarations, pattern, `${name} is not declared in ${pkg.types}: run \`make js-types\``);
  }
  const shared = readFileSync(join(root, 'hermes-shared.d.ts'), 'utf8');
  for (const name of Object.keys(await import('../hermes-shared.js'))) {
    assert.match(shared, new RegExp(`^export function ${name}\\b`, 'm'), `${name} is not declared in hermes-shared.d.ts`);
  }
  for (const type of ['HermesMessage', 'HermesClient', 'HermesClientOptions', 'HermesEvents', 'MessageSource']) {
    assert.match(declarations, new RegExp(`^export type ${type}\\b`, 'm'));
  }
});

test('npm pack ships the modules (the client and its tab-sharing layer), their types, README and package.json only', () => {
  const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const [packed] = JSON.parse(result.stdout);
  assert.deepEqual(packed.files.map((file) => file.path).sort(), [
    'README.md',
    'hermes-client.d.ts',
    'hermes-client.js',
    'hermes-shared.d.ts',
    'hermes-shared.js',
    'package.json',
  ]);
});
