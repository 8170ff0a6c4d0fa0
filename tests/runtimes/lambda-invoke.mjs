// Invokes the built Lambda bundle's handler under Node, as the Lambda runtime does: reads a JSON
// array of events on stdin, calls `handler(event, context)` for each in turn, prints the results
// as a JSON array on stdout. With LAMBDA_FREEZE=1 the process exits right after the last
// handler returned, as a Lambda instance may be frozen then: work still in the background is cut.
import { pathToFileURL } from "node:url";

const bundle = process.argv[2];
const { handler } = await import(pathToFileURL(bundle).href);
let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const event of JSON.parse(input)) {
  const context = {
    awsRequestId: crypto.randomUUID(),
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
  };
  results.push(await handler(event, context));
}
process.stdout.write(JSON.stringify(results));
if (process.env.LAMBDA_FREEZE === "1") process.exit(0);
