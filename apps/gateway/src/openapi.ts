import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';
import { podRequestSchema, POD_PHASES } from '@warmpod/domain';

export const POD_REQUEST_REF = { $ref: '#/components/schemas/PodRequest' };
export const POD_RECORD_REF = { $ref: '#/components/schemas/PodRecord' };
export const ERROR_REF = { $ref: '#/components/schemas/Error' };
export const NODE_REF = { $ref: '#/components/schemas/Node' };

const stringMap: SchemaObject = { type: 'object', additionalProperties: { type: 'string' } };
const resources: SchemaObject = {
  type: 'object',
  properties: { cpu: { type: 'number' }, memoryMiB: { type: 'integer' }, gpu: { type: 'integer' } },
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
      startMode: { type: 'string', enum: ['cold', 'warm-cache', 'restored', 'fallback'] },
      message: { type: 'string' },
      timeline: { type: 'object', additionalProperties: { type: 'string', format: 'date-time' } },
      endpoints: { type: 'array', items: { type: 'object' } },
      exitCode: { type: 'integer' },
      error: { type: 'string' },
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
      capabilities: { type: 'object' },
      cachedDigests: { type: 'array', items: { type: 'object', properties: { digest: { type: 'string' }, sizeBytes: { type: 'integer' } } } },
      heartbeatAt: { type: 'string', format: 'date-time' },
    },
  },
};

/** The pod request body, generated from the same zod schema that validates it. */
function podRequestJsonSchema(): SchemaObject {
  const schema = z.toJSONSchema(podRequestSchema, { target: 'openapi-3.0', io: 'input' }) as Record<string, unknown>;
  // A JSON Schema dialect marker; OpenAPI 3.0 schemas have no such field.
  delete schema['$schema'];
  return schema as SchemaObject;
}

/** Swagger UI at /docs, the document at /docs/json. */
export function setupOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('warmpod gateway')
    .setDescription('REST API v1: pods are admitted with their image pinned to a digest.')
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'an opaque token that names a tenant' })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, ...SCHEMAS, PodRequest: podRequestJsonSchema() },
  };
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/json', yamlDocumentUrl: 'docs/yaml' });
}
