// Type-checked by `npm test` (tsc -p test/types): what a TypeScript user of the package writes,
// against the shipped declarations (types/), resolved through the package's own exports.
import {
  Client, PythOnError, RateLimitError, encrypt,
  type components, type ExecuteResponse, type RunEvent, type CellEvent, type ZkPayload,
} from '@pyth-on/zk';

type ExecuteRequest = components['schemas']['ExecuteRequest'];

export async function example(): Promise<void> {
  const client = new Client({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'pyo_x', maxRetries: 1 });
  const request: ExecuteRequest = { code: 'print(1)', timeoutMs: 1000, secrets: ['API_TOKEN'] };
  const run: ExecuteResponse = await client.execute(request);
  const exit: number = run.exitCode;
  const output: string = run.output;
  void exit; void output;

  for await (const event of client.executeStream(request)) {
    const e: RunEvent = event;
    if (e.type === 'stdout') { const text: string = e.data.text; void text; }
    if (e.type === 'result') { const code: number = e.data.exitCode; void code; }
    if (e.type === 'start') { const id: string = e.data.executionId; void id; }
  }
  const session = await client.sessions.create({ language: 'python' });
  for await (const event of client.sessions.executeStream(session.id, 'x = 1')) {
    const e: CellEvent = event;
    if (e.type === 'result') { const ended: boolean = e.data.sessionEnded; void ended; }
  }
  const bytes: Uint8Array = await client.sessions.files.get(session.id, 'a.txt');
  void bytes;
  for await (const entry of client.audit.entries()) { const action: string = entry.action; void action; }
  const payload: ZkPayload = await encrypt('print(1)', 'a long password', '0190a6f2-5b7c-7d2e-8f00-123456789abc', 'a.py');
  await client.zk.store('a.py', payload);
  try {
    await client.usage();
  } catch (e) {
    if (e instanceof RateLimitError) { const after: number | null = e.retryAfter; void after; }
    if (e instanceof PythOnError) { const code: string = e.code; const id: string | null = e.requestId; void code; void id; }
  }
  // @ts-expect-error: an unknown field of the request is a type error
  await client.execute({ code: 'x', timeout: 5 });
  // @ts-expect-error: role is an enum
  await client.admin.users.setRole('id', 'superuser');
}
