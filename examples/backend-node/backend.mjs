// A Node backend using Hermes with nothing but the AWS SDK for JavaScript v3: no Hermes code, no signing key.
//
//   node backend.mjs issue <user> <room> [<room> ...]   -> prints {"token", "expires_at"}
//   node backend.mjs publish <room> '<json data>' [type] -> prints {"id"}
//   node backend.mjs revoke <user> [room]               -> prints {"tokens", "connections", "left", "failed"}
//
// Configuration (from the module's outputs): HERMES_TOKEN_FUNCTION = token_function_name, HERMES_QUEUE_URL =
// queue_url; the AWS SDK's own settings for region and credentials (AWS_REGION, a role, a profile...). The
// backend's role needs token_caller_policy_json and publisher_policy_json: lambda:InvokeFunction on the token
// function and sqs:SendMessage on the queue, nothing else.
import { randomUUID } from 'node:crypto';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

const lambda = new LambdaClient({});
const sqs = new SQSClient({});

/** Ask the token function (docs/contract.md "Token function"); a refusal or a function error throws. */
export async function askTokenFunction(request) {
  const out = await lambda.send(new InvokeCommand({
    FunctionName: required('HERMES_TOKEN_FUNCTION'),
    Payload: new TextEncoder().encode(JSON.stringify(request)),
  }));
  const answer = JSON.parse(new TextDecoder().decode(out.Payload));
  if (out.FunctionError) throw new Error(`token function failed: ${answer.errorType}: ${answer.errorMessage}`);
  if (answer.error) throw new Error(`token function refused ${request.action}: ${answer.error.message}`);
  return answer;
}

export const issueToken = (userId, rooms, ttlSeconds = 300) =>
  askTokenFunction({ action: 'issue', user_id: userId, rooms, ttl_seconds: ttlSeconds });

export const revoke = (userId, roomId) =>
  askTokenFunction({ action: 'revoke', user_id: userId, ...(roomId ? { room_id: roomId } : {}) });

/** A notification to a room (docs/schemas/publish-request.schema.json). */
export async function publish(roomId, data, type = 'message') {
  const id = randomUUID();
  const queueUrl = required('HERMES_QUEUE_URL');
  const fifo = queueUrl.endsWith('.fifo'); // the module's default: one message group per room keeps publish order
  await sqs.send(new SendMessageCommand({
    QueueUrl: queueUrl,
    MessageBody: JSON.stringify({ room_id: roomId, data, type, id }),
    ...(fifo ? { MessageGroupId: `room#${roomId}`, MessageDeduplicationId: id } : {}),
  }));
  return { id };
}

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} (from the Hermes module's outputs)`);
  return value;
}

async function main([command, ...args]) {
  if (command === 'issue' && args.length >= 2) return issueToken(args[0], args.slice(1));
  if (command === 'publish' && args.length >= 2) return publish(args[0], JSON.parse(args[1]), args[2]);
  if (command === 'revoke' && args.length >= 1) return revoke(args[0], args[1]);
  throw new Error('usage: node backend.mjs issue <user> <room>... | publish <room> <json> [type] | revoke <user> [room]');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (answer) => console.log(JSON.stringify(answer)),
    (error) => { console.error(error.message); process.exitCode = 1; },
  );
}
