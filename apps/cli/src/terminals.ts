import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { RegisterTerminalsResponse } from '#contracts';
import { TerminalRegistryService } from '#terminals';
import { cliConfig, openCliContextOrExplain } from './cli-context.js';

const USAGE = `Usage: npm run terminals -- <command> [options]

Commands:
  register --sn SN --model MODEL [--tid TID] [--mid MID] [--provider CODE] [--lat LAT --lon LON]
  import FILE.csv            CSV with header: sn,model,tid,mid,provider,lat,lon (sn and model required)
  rotate SN [SN...]          issue new secrets (old ones stop working)
  disable SN [SN...]         refuse the terminals' CONNECTs
  enable SN [SN...]
  service-account NAME       create or re-key a backend MQTT account (username svc:NAME)

Options:
  --json                     print JSON instead of CSV

Secrets are printed once, on stdout; only a keyed hash is stored. Row errors go to stderr.
With the embedded database, run this while the app is stopped (PGlite serves one process).`;

function printCredentials(result: RegisterTerminalsResponse, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    if (result.credentials.length) process.stdout.write('sn,username,secret\n');
    for (const c of result.credentials) process.stdout.write(`${c.sn},${c.username},${c.secret}\n`);
    for (const e of result.errors) process.stderr.write(`row ${e.row} ${e.sn ?? ''}: ${e.code}: ${e.message}\n`);
  }
  if (result.errors.length) process.exitCode = 2;
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    sn: { type: 'string' },
    model: { type: 'string' },
    tid: { type: 'string' },
    mid: { type: 'string' },
    provider: { type: 'string' },
    lat: { type: 'string' },
    lon: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const [command, ...args] = positionals;
if (!command || values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(command ? 0 : 64);
}

const config = cliConfig('terminals');
const context = await openCliContextOrExplain(
  'terminals',
  config,
  'register through the app over HTTP instead (POST /v1/terminals or /v1/terminals/import with an API key, or POST /internal/v1/terminals with the admin token, as the simulator does)',
);
try {
  const registry = context.get(TerminalRegistryService);
  switch (command) {
    case 'register':
      if (!values.sn || !values.model) throw new Error('register needs --sn and --model');
      printCredentials(
        await registry.register([
          {
            sn: values.sn,
            model: values.model,
            tid: values.tid,
            mid: values.mid,
            providerCode: values.provider,
            registeredLat: values.lat === undefined ? undefined : Number(values.lat),
            registeredLon: values.lon === undefined ? undefined : Number(values.lon),
          },
        ]),
        values.json,
      );
      break;
    case 'import':
      if (args.length !== 1) throw new Error('import needs one CSV file');
      printCredentials(await registry.registerCsv(readFileSync(args[0], 'utf8')), values.json);
      break;
    case 'rotate':
      if (args.length === 0) throw new Error('rotate needs at least one SN');
      printCredentials(await registry.rotateCredentials(args), values.json);
      break;
    case 'disable':
    case 'enable': {
      if (args.length === 0) throw new Error(`${command} needs at least one SN`);
      const result = await registry.setEnabled(args, command === 'enable');
      process.stdout.write(`${command}d: ${result.updated.join(' ') || '(none)'}\n`);
      if (result.missing.length) {
        process.stderr.write(`not registered: ${result.missing.join(' ')}\n`);
        process.exitCode = 2;
      }
      break;
    }
    case 'service-account': {
      if (args.length !== 1) throw new Error('service-account needs a NAME');
      const account = await registry.createServiceAccount(args[0]);
      process.stdout.write(values.json ? `${JSON.stringify(account)}\n` : `username,secret\n${account.username},${account.secret}\n`);
      break;
    }
    default:
      throw new Error(`unknown command "${command}"\n\n${USAGE}`);
  }
} catch (err) {
  process.stderr.write(`terminals: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await context.close();
}
