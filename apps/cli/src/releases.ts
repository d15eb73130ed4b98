import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { signArtifactWithKeyFile, writeReleaseKeyPair } from '#ota';

const USAGE = `Usage: npm run releases -- <command> [options]

Commands:
  keygen --out DIR                 new Ed25519 release key pair: DIR/release-<keyId>.key (private, mode 0600)
                                   and DIR/release-<keyId>.pub.pem; prints the key id and the
                                   OTA_RELEASE_PUBLIC_KEYS entry (keyId:base64) for the backend
  sign --key PRIV --file ARTIFACT  signs the artifact's SHA-256 digest; prints JSON
       [--out FILE]                { sha256, size, signature, keyId } (also written to FILE)

The signature is Ed25519 over the 32 raw bytes of SHA-256(artifact), base64 (docs/ota.md).
Keep the private key offline; the backend only needs the public key.`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    key: { type: 'string' },
    file: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const [command] = positionals;

function fail(message: string): never {
  process.stderr.write(`releases: ${message}\n`);
  process.exit(64);
}

try {
  if (command === 'keygen' && !values.help) {
    if (!values.out) fail('keygen needs --out DIR');
    const pair = writeReleaseKeyPair(values.out);
    process.stdout.write(
      `key id:      ${pair.keyId}\npublic key:  ${pair.publicKeyBase64}\nprivate key: ${pair.privateKeyPath} (mode 0600, keep it offline)\n` +
        `public PEM:  ${pair.publicKeyPath}\n\nBackend setting:\n  OTA_RELEASE_PUBLIC_KEYS=${pair.configEntry}\n`,
    );
  } else if (command === 'sign' && !values.help) {
    if (!values.key || !values.file) fail('sign needs --key PRIV and --file ARTIFACT');
    const signed = await signArtifactWithKeyFile(values.key, values.file);
    const json = `${JSON.stringify(signed, null, 2)}\n`;
    if (values.out) writeFileSync(values.out, json, { flag: 'wx' });
    process.stdout.write(json);
  } else {
    process.stdout.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 64);
  }
} catch (err) {
  // Missing files, a file that exists (no overwrite), a key that is not Ed25519: one line.
  fail(err instanceof Error ? err.message : String(err));
}
