import { z } from 'zod';
import {
  cancelDataSchema,
  cancelResultSchema,
  intakeErrorSchema,
  runPodDataSchema,
  runPodProgressSchema,
  runPodResultSchema,
} from './intake-contract';

/**
 * JSON Schema of every intake job's data and result, generated from the zod
 * schemas the consumer validates with (run-pod's data is the OpenAPI
 * document's PodRequest schema plus the intake options).
 */
export function intakeJsonSchemas(): Record<string, unknown> {
  const json = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { target: 'draft-2020-12', io });
  return {
    'run-pod.data': json(runPodDataSchema, 'input'),
    'run-pod.progress': json(runPodProgressSchema, 'output'),
    'run-pod.result': json(runPodResultSchema, 'output'),
    'cancel.data': json(cancelDataSchema, 'input'),
    'cancel.result': json(cancelResultSchema, 'output'),
    failedReason: json(intakeErrorSchema, 'output'),
  };
}

/** The published document (docs/queue-door.schema.json): one file, `$defs` per job part. */
export function intakeSchemaDocument(): string {
  const document = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'warmpod queue door: job data and results',
    description:
      'Generated from @warmpod/client (npm run schemas). Jobs go to the queue "pods" under the tenant\'s intake prefix; ' +
      "a failed job's failedReason is JSON in the failedReason shape.",
    $defs: Object.fromEntries(
      Object.entries(intakeJsonSchemas()).map(([name, schema]) => {
        // One dialect marker for the whole document, not one per definition.
        const definition: Record<string, unknown> = { ...(schema as Record<string, unknown>) };
        delete definition['$schema'];
        return [name, definition];
      }),
    ),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
