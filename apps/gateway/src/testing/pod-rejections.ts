/**
 * Pod request bodies the REST door refuses, with the error each gets: the
 * REST rejection spec sends them as POST /v1/pods bodies, the queue door's
 * as run-pod job data. `target: 'denied'` needs a registry refusing access.
 */
export interface BodyRejection {
  name: string;
  body: unknown;
  status: number;
  code: string;
  path?: string;
  message?: RegExp;
  target?: 'denied';
}

export const VALID_POD = { image: 'team/app:v1' };
const valid = VALID_POD;

export const BODY_REJECTIONS: BodyRejection[] = [
  { name: 'a body that is not an object', body: ['team/app:v1'], status: 400, code: 'invalid_request', path: '(body)' },
  {
    name: 'an unknown top-level field',
    body: { ...valid, colour: 'red' },
    status: 400,
    code: 'invalid_request',
    path: 'colour',
    message: /unknown field/,
  },
  { name: 'a missing image', body: { command: ['sh'] }, status: 400, code: 'invalid_request', path: 'image', message: /required/ },
  { name: 'an image with spaces', body: { image: 'team/my app:v1' }, status: 400, code: 'invalid_image_reference', path: 'image' },
  {
    name: 'an upper-case repository',
    body: { image: 'Team/App:v1' },
    status: 400,
    code: 'invalid_image_reference',
    path: 'image',
    message: /upper-case/,
  },
  {
    name: 'a digest of the wrong length',
    body: { image: `team/app@sha256:${'a'.repeat(63)}` },
    status: 400,
    code: 'invalid_image_reference',
    path: 'image',
  },
  { name: 'cpu 0', body: { ...valid, resources: { cpu: 0, memoryMiB: 64 } }, status: 400, code: 'invalid_request', path: 'resources.cpu' },
  {
    name: 'memoryMiB 10^12',
    body: { ...valid, resources: { cpu: 1, memoryMiB: 1e12 } },
    status: 400,
    code: 'invalid_request',
    path: 'resources.memoryMiB',
  },
  {
    name: 'an env value that is not a string',
    body: { ...valid, env: { A: '1', B: 2 } },
    status: 400,
    code: 'invalid_request',
    path: 'env.B',
  },
  { name: 'port 0', body: { ...valid, ports: [0] }, status: 400, code: 'invalid_request', path: 'ports.0' },
  { name: 'port 70000', body: { ...valid, ports: [80, 70000] }, status: 400, code: 'invalid_request', path: 'ports.1' },
  { name: 'a duplicated port', body: { ...valid, ports: [80, 80] }, status: 400, code: 'invalid_request', path: 'ports' },
  {
    name: 'a readiness condition on a port the pod does not expose',
    body: { ...valid, ports: [8080], readiness: { condition: { type: 'http', port: 9090, path: '/healthz' } } },
    status: 400,
    code: 'invalid_request',
    path: 'readiness.condition.port',
    message: /port 9090 is not one of the pod's ports \(8080\)/,
  },
  {
    name: 'a readiness interval as long as its timeout',
    body: { ...valid, ports: [8080], readiness: { condition: { type: 'tcp', port: 8080 }, intervalMs: 2000, timeoutSeconds: 2 } },
    status: 400,
    code: 'invalid_request',
    path: 'readiness.intervalMs',
  },
  {
    name: 'a readiness threshold that cannot pass within its timeout',
    body: {
      ...valid,
      ports: [8080],
      readiness: { condition: { type: 'tcp', port: 8080 }, intervalMs: 1000, successThreshold: 20, timeoutSeconds: 10 },
    },
    status: 400,
    code: 'invalid_request',
    path: 'readiness.successThreshold',
  },
  {
    name: 'an exec readiness condition with an empty command',
    body: { ...valid, readiness: { condition: { type: 'exec', command: [] } } },
    status: 400,
    code: 'invalid_request',
    path: 'readiness.condition.command',
  },
  { name: 'a tag that does not exist', body: { image: 'team/app:nope' }, status: 422, code: 'image_not_found', path: 'image' },
  { name: 'a repository that does not exist', body: { image: 'team/ghost:v1' }, status: 422, code: 'image_not_found', path: 'image' },
  { name: 'a registry that denies access', body: valid, status: 422, code: 'image_access_denied', path: 'image', target: 'denied' },
  { name: 'a body over the size limit', body: { ...valid, env: { BIG: 'x'.repeat(70_000) } }, status: 413, code: 'payload_too_large' },
];
