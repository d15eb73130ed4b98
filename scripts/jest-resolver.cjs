// Jest resolver: lets CommonJS packages require() ES-module-only packages under Jest on Node 20.
// Node 20.19 supports require(esm) natively, so production needs nothing; Jest implements its own
// require() and supports require(esm) only on Node 24.9+ (https://github.com/jestjs/jest/issues/15275).
// When a require() in node_modules resolves to an ES module, this resolver answers with a CommonJS
// copy of it (compiled once by swc, written beside the original as *.jest-cjs.cjs); the copy's own
// require()s come back here, so whole ESM dependency chains convert lazily. import statements are
// untouched and still load the real ES modules.
const { existsSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join, sep } = require('node:path');
const { transformSync } = require('@swc/core');

const typeByDir = new Map();
function packageType(dir) {
  if (typeByDir.has(dir)) return typeByDir.get(dir);
  const manifest = join(dir, 'package.json');
  let type;
  if (existsSync(manifest)) type = JSON.parse(readFileSync(manifest, 'utf8')).type ?? 'commonjs';
  else type = dirname(dir) === dir ? 'commonjs' : packageType(dirname(dir));
  typeByDir.set(dir, type);
  return type;
}

const isEsm = (file) => file.endsWith('.mjs') || (file.endsWith('.js') && packageType(dirname(file)) === 'module');

function commonJsCopy(file) {
  const out = file.replace(/\.m?js$/, '.jest-cjs.cjs');
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(file).mtimeMs) return out;
  const { code } = transformSync(readFileSync(file, 'utf8'), {
    filename: file,
    swcrc: false,
    module: { type: 'commonjs' },
    jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' },
  });
  // Workers may race on the same file: write aside, then rename atomically.
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, out);
  return out;
}

module.exports = (request, options) => {
  const resolved = options.defaultResolver(request, options);
  const fromRequire = options.conditions?.includes('require') ?? false;
  if (fromRequire && resolved.includes(`${sep}node_modules${sep}`) && isEsm(resolved)) return commonJsCopy(resolved);
  return resolved;
};
