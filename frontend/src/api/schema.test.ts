// @vitest-environment node
// The generated client types must match the service's OpenAPI document: regenerate with
// `npm run openapi:dump && npm run openapi:generate` when this fails.
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ES module script shared with scripts/openapi.mjs
import { committed, documentPath, dumpDocument, generate, hasPython, schemaPath } from '../../scripts/openapi-lib.mjs';

describe('OpenAPI client types', () => {
  it('src/api/schema.d.ts is generated from the committed document', async () => {
    const document = committed(documentPath) as string | null;
    expect(document, 'src/api/openapi.json is missing: npm run openapi:dump').not.toBeNull();
    const fresh = (await generate(document)) as string;
    expect(fresh === committed(schemaPath), 'src/api/schema.d.ts is stale: npm run openapi:generate').toBe(true);
  });

  it.runIf(hasPython())('the committed document is the service’s current one', () => {
    const current = dumpDocument() as string;
    expect(current === committed(documentPath), 'src/api/openapi.json is stale: npm run openapi:dump').toBe(true);
  }, 30_000);
});
