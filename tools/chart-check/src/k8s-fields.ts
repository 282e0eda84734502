import { z } from 'zod';
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { K8sObject } from './helm';

/** A kubernetes-models class: validates types, enums and required fields (not unknown fields). */
interface ModelClass {
  new (): { validate(): void };
}

const MODELS: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/StatefulSet': StatefulSet,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

/** The prometheus-operator CRD is not in the built-in models: the fields the chart uses, strictly. */
const serviceMonitor = z
  .object({
    apiVersion: z.literal('monitoring.coreos.com/v1'),
    kind: z.literal('ServiceMonitor'),
    metadata: z
      .object({ name: z.string(), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional() })
      .strict(),
    spec: z
      .object({
        selector: z.object({ matchLabels: z.record(z.string(), z.string()) }).strict(),
        endpoints: z
          .array(z.object({ port: z.string(), path: z.string().startsWith('/'), interval: z.string().regex(/^\d+(s|m)$/) }).strict())
          .min(1),
      })
      .strict(),
  })
  .strict();

const attributeMap = z.array(z.object({ baseName: z.string(), type: z.string() }));

/** Field name -> type of a @kubernetes/client-node model (its generated OpenAPI type map), or undefined for a non-model type. */
export type TypeMaps = (typeName: string) => Map<string, string> | undefined;

/** Type maps from the @kubernetes/client-node module namespace (ESM-only, so the caller imports it). */
export function typeMapsOf(clientNode: object): TypeMaps {
  const cache = new Map<string, Map<string, string> | undefined>();
  return (typeName) => {
    if (cache.has(typeName)) return cache.get(typeName);
    const cls: unknown = Reflect.get(clientNode, typeName);
    let fields: Map<string, string> | undefined;
    if (typeof cls === 'function' && 'getAttributeTypeMap' in cls && typeof cls.getAttributeTypeMap === 'function') {
      const parsed = attributeMap.safeParse(cls.getAttributeTypeMap.call(cls));
      if (parsed.success) fields = new Map(parsed.data.map((a) => [a.baseName, a.type]));
    }
    cache.set(typeName, fields);
    return fields;
  };
}

const ARRAY = /^Array<(.+)>$/;
const MAP = /^\{ \[key: string\]: (.+); \}$/;

/** Unknown fields anywhere in `value` of model type `typeName`, as `path: message`. */
export function unknownFields(value: unknown, typeName: string, maps: TypeMaps, path: string): string[] {
  const array = ARRAY.exec(typeName);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1]!, maps, `${path}[${i}]`)) : [];
  const map = MAP.exec(typeName);
  if (map) return isRecord(value) ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, maps, `${path}.${k}`)) : [];
  const fields = maps(typeName);
  if (!fields || !isRecord(value)) return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const type = fields.get(key);
    if (type === undefined) return [`${path}.${key}: unknown field (${typeName} has no "${key}")`];
    return unknownFields(v, type, maps, `${path}.${key}`);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The client-node model of a kind: V1Deployment for apps/v1 Deployment (every kind the chart renders is v1). */
export function modelTypeOf(obj: K8sObject): string {
  const version = obj.apiVersion.split('/').pop()!;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${obj.kind}`;
}

/** Every problem of one rendered object: schema (types, required) and unknown fields, each with its path. */
export function validateObject(obj: K8sObject, maps: TypeMaps): string[] {
  const where = `${obj.kind}/${obj.metadata.name}`;
  if (obj.apiVersion === 'monitoring.coreos.com/v1' && obj.kind === 'ServiceMonitor') {
    const parsed = serviceMonitor.safeParse(obj);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${where}: ${i.path.join('.')}: ${i.message}`);
  }
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return [`${where}: ${obj.apiVersion} ${obj.kind} is not a kind this check knows`];
  const problems: string[] = [];
  try {
    // Filled after construction: the constructors' data types are what is being checked here.
    Object.assign(new Model(), obj).validate();
  } catch (error) {
    problems.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const type = modelTypeOf(obj);
  if (!maps(type)) problems.push(`${where}: @kubernetes/client-node has no model ${type}`);
  return [...problems, ...unknownFields(obj, type, maps, where)];
}

/** A container env entry as the chart may render it: a value, or a Secret key or a downward-API field. */
export const envVarSchema = z
  .object({
    name: z.string().min(1),
    value: z.string().optional(),
    valueFrom: z
      .object({
        secretKeyRef: z.object({ name: z.string(), key: z.string() }).optional(),
        fieldRef: z.object({ fieldPath: z.string() }).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
