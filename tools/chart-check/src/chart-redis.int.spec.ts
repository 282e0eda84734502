import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { useRenderedValues } from './testing/rendered-values';
import { workloadsOf, type Workload } from './wiring';

/** Redis credentials in the chart: each app finds its own user's password (and only its own) and the Redis CA where its env points. */
const rendered = useRenderedValues(['external-redis-values.yaml', 'existing-secrets-values.yaml']);

/** The Redis user, and the Secret items behind the password and CA files, of a workload. */
function redisAuth(w: Workload): Record<string, string | undefined> {
  const env = (name: string) => w.container.env.find((e) => e.name === name)?.value;
  const secretAt = (path: string | undefined) => {
    const f = path === undefined ? undefined : w.secretFiles.find((s) => path === join(s.mountPath, s.path));
    return f && `${f.secret}/${f.key}`;
  };
  return {
    user: env('WARMPOD_REDIS_USERNAME'),
    password: secretAt(env('WARMPOD_REDIS_PASSWORD_FILE')),
    ca: secretAt(env('WARMPOD_REDIS_TLS_CA_FILE')),
  };
}

describe("each service's Redis user and the Redis CA are mounted where the apps expect them", () => {
  test('with a users Secret and a CA Secret: every service its own user and password item, and the CA', () => {
    const auth = Object.fromEntries(workloadsOf(rendered.get('existing-secrets-values.yaml')!).map((w) => [w.component, redisAuth(w)]));
    assert.deepEqual(auth, {
      agent: { user: 'warmpod-wp-worker-agent', password: 'warmpod-redis-users/worker-agent', ca: 'warmpod-redis-ca/ca.crt' },
      gateway: { user: 'warmpod-wp-gateway', password: 'warmpod-redis-users/gateway', ca: 'warmpod-redis-ca/ca.crt' },
      prepuller: { user: 'wp-prepull', password: 'warmpod-redis-users/prepuller', ca: 'warmpod-redis-ca/ca.crt' },
      scheduler: { user: 'warmpod-wp-scheduler', password: 'warmpod-redis-users/scheduler', ca: 'warmpod-redis-ca/ca.crt' },
    });
    for (const w of workloadsOf(rendered.get('existing-secrets-values.yaml')!)) {
      const items = w.secretFiles.filter((f) => f.secret === 'warmpod-redis-users').map((f) => f.key);
      assert.equal(items.length, 1, `${w.component} mounts one password, its own`);
    }
  });

  test('without them: no user, password or CA (the URL says all)', () => {
    for (const w of workloadsOf(rendered.get('external-redis-values.yaml')!))
      assert.deepEqual(redisAuth(w), { user: undefined, password: undefined, ca: undefined }, w.component);
  });
});
