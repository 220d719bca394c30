// make test's lint of asyncapi.yaml, the order events' contract: parsed and validated by the
// AsyncAPI parser (its JSON Schema of AsyncAPI 3.0, its references resolved, openapi.yaml's `Order`
// among them, and its ruleset). Any error or warning fails; the hints are printed.
import { Parser, fromFile } from '@asyncapi/parser';
import { fileURLToPath } from 'node:url';

const file = fileURLToPath(new URL('../../asyncapi.yaml', import.meta.url));
const severities = ['error', 'warning', 'info', 'hint'];
const { document, diagnostics } = await fromFile(new Parser(), file).parse();
for (const d of diagnostics) {
  const where = d.path.length ? d.path.join('.') : '(document)';
  console.log(`asyncapi.yaml: ${severities[d.severity]}: ${where}: ${d.message} (${d.code})`);
}
const failing = diagnostics.filter((d) => d.severity <= 1);
if (!document || failing.length > 0) {
  console.error(`asyncapi.yaml: ${failing.length} errors or warnings`);
  process.exit(1);
}
const messages = document.allMessages().all().map((m) => m.name());
console.log(`asyncapi.yaml: valid AsyncAPI ${document.version()}, messages: ${messages.join(', ')}`);
