// The typed API client's source of truth is the service's OpenAPI document. This module dumps it from the
// Python service (no server needed) and turns it into `src/api/schema.d.ts` with openapi-typescript.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const documentPath = resolve(root, 'src/api/openapi.json');
export const schemaPath = resolve(root, 'src/api/schema.d.ts');

/** The Python interpreter that has the `telemetra` packages (the repository's virtualenv by default). */
export function python() {
  return process.env.TELEMETRA_PYTHON ?? resolve(root, '../.venv/bin/python');
}

export function hasPython() {
  return existsSync(python());
}

const DUMP = `
import json, sys, tempfile
from telemetra.services.api.app import create_app
from telemetra.services.settings import Settings
with tempfile.TemporaryDirectory() as directory:
    settings = Settings(store_url=f"sqlite:///{directory}/openapi.db", cache_url="memory://", public_reads=True)
    document = create_app(settings).openapi()
sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\\n")
`;

/** The service's OpenAPI document as formatted JSON text (public reads, the default configuration). */
export function dumpDocument() {
  return execFileSync(python(), ['-c', DUMP], {
    encoding: 'utf8',
    env: { ...process.env, TELEMETRA_LOG_LEVEL: 'WARNING' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

const HEADER = `/**
 * Generated from the Telemetra API's OpenAPI document (src/api/openapi.json) by openapi-typescript.
 * Do not edit: run \`npm run openapi:generate\` (after \`npm run openapi:dump\` when the service changed).
 * \`npm run openapi:check\` and the Vitest suite fail when this file is stale.
 */

`;

/** TypeScript declarations for a document (JSON text). */
export async function generate(documentText) {
  const ast = await openapiTS(JSON.parse(documentText), { alphabetize: true });
  return HEADER + astToString(ast);
}

export function committed(path) {
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}
