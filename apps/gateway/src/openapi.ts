import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { OpenAPIObject, SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';
import { CHECKPOINT_STATES, podRequestSchema, POD_PHASES, type CheckpointOffCode } from '@warmpod/domain';
import { runPodDataSchema, runPodResultSchema } from '@warmpod/client';
import { pinRequestSchema } from './images/pin-request';

export const POD_REQUEST_REF = { $ref: '#/components/schemas/PodRequest' };
export const POD_RECORD_REF = { $ref: '#/components/schemas/PodRecord' };
export const ERROR_REF = { $ref: '#/components/schemas/Error' };
export const NODE_REF = { $ref: '#/components/schemas/Node' };
export const PIN_REF = { $ref: '#/components/schemas/ImagePin' };
export const PIN_REQUEST_REF = { $ref: '#/components/schemas/PinRequest' };
export const CHECKPOINT_REF = { $ref: '#/components/schemas/Checkpoint' };
export const QUOTA_REF = { $ref: '#/components/schemas/Quota' };

const stringMap: SchemaObject = { type: 'object', additionalProperties: { type: 'string' } };
const resources: SchemaObject = {
  type: 'object',
  properties: { cpu: { type: 'number' }, memoryMiB: { type: 'integer' }, gpu: { type: 'integer' } },
};

const CHECKPOINT_OFF_CODES = ['not-requested', 'policy', 'multi-gpu', 'no-criu-node'] as const satisfies readonly CheckpointOffCode[];

/** A checkpoint record (the index's `CheckpointRecord`); the files stay on their node. */
const CHECKPOINT: SchemaObject = {
  type: 'object',
  required: ['id', 'key', 'specKey', 'runtime', 'tenant', 'node', 'pod', 'digest', 'state', 'sizeBytes', 'createdAt', 'restoreFailures'],
  properties: {
    id: { type: 'string', pattern: '^ckpt-[0-9a-z]{20}$' },
    key: {
      type: 'string',
      pattern: '^ck1-[0-9a-f]{64}$',
      description: 'tenant + pinned digest + process-shaping spec + the node runtime fingerprint',
    },
    specKey: { type: 'string', pattern: '^cs1-[0-9a-f]{64}$', description: 'the key without the node runtime (what placement matches)' },
    runtime: { type: 'string', pattern: '^rt1-[0-9a-f]{64}$', description: "the node's runtime fingerprint when it was taken" },
    tenant: { type: 'string' },
    node: { type: 'string', description: 'the node that holds the files' },
    pod: { type: 'string', description: 'the pod it was taken of' },
    digest: { type: 'string', description: 'the pinned digest the pod ran' },
    state: { type: 'string', enum: [...CHECKPOINT_STATES] },
    sizeBytes: { type: 'integer', description: '0 until taken' },
    createdAt: { type: 'string', format: 'date-time' },
    restoreFailures: { type: 'integer', description: 'failed restores; quarantined (never restored again) after k' },
    reason: { type: 'string', description: 'why the checkpoint or its last restore failed, or why it was deleted' },
    artifact: {
      type: 'string',
      pattern: '^sha256:[0-9a-f]{64}$',
      description:
        'manifest digest of its OCI artifact in the registry, once pushed: any node of the same runtime may fetch and restore it',
    },
    artifactBytes: { type: 'integer', description: 'bytes a node fetches to restore it from the registry' },
    pushError: {
      type: 'string',
      description: 'why the last push to the registry failed (it stays usable on its node; the push is retried)',
    },
  },
};

/** Response shapes, written out: they are TypeScript interfaces, not schemas, in the domain lib. */
const SCHEMAS: Record<string, SchemaObject> = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'details'],
        properties: {
          code: { type: 'string', example: 'invalid_request' },
          message: { type: 'string' },
          details: {
            type: 'array',
            items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
    },
  },
  PodRecord: {
    type: 'object',
    properties: {
      id: { type: 'string', pattern: '^pod-[0-9a-z]{20}$' },
      tenant: { type: 'string' },
      createdAt: { type: 'string', format: 'date-time' },
      labels: stringMap,
      image: {
        type: 'object',
        properties: {
          requested: { type: 'string', description: 'the reference as sent' },
          pinned: { type: 'string', description: 'registry/repository@sha256:... (used from admission on)' },
          digest: { type: 'string' },
        },
      },
      spec: { type: 'object' },
      phase: { type: 'string', enum: [...POD_PHASES] },
      node: { type: 'string' },
      placement: { type: 'object' },
      startMode: { type: 'string', enum: ['cold', 'warm-cache', 'restored', 'fallback', 'warm-pool'] },
      pool: { type: 'string', description: 'the warm pool the pod came from or was started for' },
      restarts: { type: 'integer', description: 'times the pod was placed again after losing its node' },
      message: { type: 'string' },
      timeline: {
        type: 'object',
        description: 'when each phase began, and Ready: when its readiness held',
        additionalProperties: { type: 'string', format: 'date-time' },
      },
      ready: {
        type: 'string',
        format: 'date-time',
        description: 'when the pod became ready (its readiness held; at once without one): Running means ready, ports exposed only then',
      },
      endpoints: { type: 'array', items: { type: 'object' } },
      exitCode: { type: 'integer' },
      error: { type: 'string' },
      checkpointing: {
        type: 'object',
        description: 'whether this pod is checkpointed, decided once at placement (the agent obeys it); why not when off',
        required: ['enabled'],
        properties: {
          enabled: { type: 'boolean' },
          code: { type: 'string', enum: [...CHECKPOINT_OFF_CODES] },
          reason: { type: 'string' },
        },
      },
      checkpoint: {
        type: 'object',
        description: "what happened with checkpoints on this pod's start",
        properties: {
          restoredFrom: { type: 'string', description: 'the checkpoint it was restored (or tried to restore) from' },
          taken: { type: 'string', description: 'a checkpoint taken of this pod (after its condition held, or on demand)' },
          error: { type: 'string', description: 'why the restore or checkpoint failed; the pod runs regardless' },
        },
      },
    },
  },
  Checkpoint: CHECKPOINT,
  Quota: {
    type: 'object',
    required: ['tenant', 'quotas'],
    properties: {
      tenant: { type: 'string' },
      quotas: {
        type: 'object',
        description: 'pods, cpuMilli, memoryMiB, gpu, pins, pinBytes, poolPods, checkpoints, checkpointBytes',
        additionalProperties: {
          type: 'object',
          required: ['limit', 'used'],
          properties: { limit: { type: 'integer' }, used: { type: 'integer' } },
        },
      },
    },
  },
  Node: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      labels: stringMap,
      capacity: resources,
      allocated: resources,
      free: resources,
      health: { type: 'string', enum: ['Ready', 'NotReady'] },
      cordoned: { type: 'boolean' },
      draining: {
        type: 'boolean',
        description: 'leaving the cluster (POST /v1/nodes/{id}/drain): no new pods; gone once its agent deregisters',
      },
      drainingAt: { type: 'string', format: 'date-time' },
      capabilities: { type: 'object' },
      cachedDigests: {
        type: 'array',
        items: { type: 'object', properties: { digest: { type: 'string' }, sizeBytes: { type: 'integer' } } },
      },
      heartbeatAt: { type: 'string', format: 'date-time' },
      runningPods: { type: 'array', items: { type: 'string' }, description: "the caller's own pods there (all, for an operator)" },
      checkpoints: { type: 'array', items: { type: 'object' }, description: "the caller's own checkpoints there (all, for an operator)" },
      hidden: {
        type: 'object',
        description: "other tenants' pods and checkpoints on the node, counted but not shown (0 for an operator)",
        properties: { runningPods: { type: 'integer' }, checkpoints: { type: 'integer' } },
      },
    },
  },
};

const nodePullState: SchemaObject = {
  type: 'object',
  required: ['node', 'state'],
  properties: {
    node: { type: 'string' },
    state: { type: 'string', enum: ['queued', 'pulling', 'ready', 'failed'] },
    bytesDone: { type: 'integer', description: 'pulling' },
    bytesTotal: { type: 'integer', description: 'pulling' },
    layersDone: { type: 'integer', description: 'pulling' },
    layersTotal: { type: 'integer', description: 'pulling' },
    reason: { type: 'string', description: 'failed' },
    attempts: { type: 'integer', description: 'failed' },
    since: { type: 'string', format: 'date-time', description: 'queued' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

/** A pin with its per-node state (see images/pin-response.ts). */
const IMAGE_PIN: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^pin-[0-9a-z]{20}$' },
    tenant: { type: 'string' },
    requested: { type: 'string', description: 'the reference as sent' },
    reference: { type: 'string', description: 'normalised registry/repository:tag (or @digest): pinning it again supersedes this pin' },
    pinned: { type: 'string', description: 'registry/repository@sha256:...' },
    digest: { type: 'string' },
    nodeSelector: stringMap,
    createdAt: { type: 'string', format: 'date-time' },
    state: { type: 'string', enum: ['active', 'superseded'] },
    supersedes: { type: 'string' },
    supersededBy: { type: 'string' },
    nodes: { type: 'array', items: nodePullState },
    ready: { type: 'integer', description: 'how many target nodes are ready' },
  },
};

/** A request body schema generated from the zod schema that validates it. */
function requestJsonSchema(schema: z.ZodType): SchemaObject {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as Record<string, unknown>;
  delete json['$schema'];
  return json as SchemaObject;
}

/** A response shape generated from the zod schema its consumer validates it with (the queue door's result). */
function responseJsonSchema(schema: z.ZodType): SchemaObject {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'output' }) as Record<string, unknown>;
  delete json['$schema'];
  return json as SchemaObject;
}

/** The pod request body, generated from the same zod schema that validates it. */
function podRequestJsonSchema(): SchemaObject {
  const schema = z.toJSONSchema(podRequestSchema, { target: 'openapi-3.0', io: 'input' }) as Record<string, unknown>;
  // A JSON Schema dialect marker; OpenAPI 3.0 schemas have no such field.
  delete schema['$schema'];
  return schema as SchemaObject;
}

const RATE_LIMITED = {
  description: 'too many requests with this token (a per-token bucket shared by every replica)',
  headers: { 'Retry-After': { description: 'seconds until a request would pass', schema: { type: 'integer', minimum: 1 } } },
  content: { 'application/json': { schema: ERROR_REF } },
};

/** Every operation behind a bearer token is rate limited: its 429 is added here so none can lack it. */
function documentRateLimits(paths: OpenAPIObject['paths']): void {
  for (const item of Object.values(paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method];
      if (operation?.security?.some((s) => 'bearer' in s)) operation.responses['429'] = RATE_LIMITED;
    }
  }
}

/** Swagger UI at /docs, the document at /docs/json. */
export function setupOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('warmpod gateway')
    .setDescription('REST API v1: pods are admitted with their image pinned to a digest.')
    .setVersion('1')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      description:
        'an opaque token that names a tenant and a role (tenant or operator); operations marked x-warmpod-role: operator refuse tenant tokens with 403',
    })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  documentRateLimits(document.paths);
  document.components = {
    ...document.components,
    schemas: {
      ...document.components?.schemas,
      ...SCHEMAS,
      PodRequest: podRequestJsonSchema(),
      ImagePin: IMAGE_PIN,
      PinRequest: requestJsonSchema(pinRequestSchema),
      // The queue door's run-pod job data and result (README "From a job queue"; docs/queue-door.schema.json).
      RunPodJob: requestJsonSchema(runPodDataSchema),
      RunPodResult: responseJsonSchema(runPodResultSchema),
    },
  };
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/json', yamlDocumentUrl: 'docs/yaml' });
}
