#!/usr/bin/env node
// npm run openapi:dump      write src/api/openapi.json from the Python service
// npm run openapi:generate  write src/api/schema.d.ts from src/api/openapi.json
// npm run openapi:check     fail when either committed file differs from what the service produces now
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { committed, documentPath, dumpDocument, generate, hasPython, python, root, schemaPath } from './openapi-lib.mjs';

const mode = process.argv[2];

async function main() {
  if (mode === 'dump') {
    writeFileSync(documentPath, dumpDocument());
    console.log(`wrote ${relative(root, documentPath)}`);
  } else if (mode === 'generate') {
    writeFileSync(schemaPath, await generate(committed(documentPath) ?? dumpDocument()));
    console.log(`wrote ${relative(root, schemaPath)}`);
  } else if (mode === 'check') {
    const problems = [];
    let document = committed(documentPath);
    if (hasPython()) {
      const fresh = dumpDocument();
      if (fresh !== document) problems.push(`${relative(root, documentPath)} is stale: run npm run openapi:dump`);
      document = fresh;
    } else {
      console.warn(`no Python at ${python()} (set TELEMETRA_PYTHON): checking against the committed document only`);
    }
    if (document === null) problems.push('no OpenAPI document: run npm run openapi:dump');
    else if ((await generate(document)) !== committed(schemaPath)) {
      problems.push(`${relative(root, schemaPath)} is stale: run npm run openapi:generate`);
    }
    if (problems.length) {
      for (const problem of problems) console.error(problem);
      process.exit(1);
    }
    console.log('OpenAPI document and generated client types are up to date');
  } else {
    console.error('usage: openapi.mjs dump|generate|check');
    process.exit(2);
  }
}

await main();
