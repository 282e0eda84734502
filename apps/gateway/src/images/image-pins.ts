import { Inject, Injectable } from '@nestjs/common';
import { describeIssues, newId, parseImageReference } from '@warmpod/domain';
import type { Logger } from '@warmpod/observability';
import { ImageRepository, PinRepository, PrepullStatus, type PinRecord } from '@warmpod/store';
import type { GatewayConfig } from '../config';
import { ReadScope } from '../auth/read-scope';
import type { Caller } from '../auth/tokens';
import { ApiError } from '../http/api-error';
import { ImageLayersRecorder } from '../pods/image-layers';
import { PinResolver } from '../pods/pin-resolver';
import { CONFIG, LOGGER } from '../providers';
import { TenantLimits } from '../quotas/tenant-limits';
import { PIN_ID, pinReference, pinRequestSchema } from './pin-request';
import { toPinResponse, type PinResponse } from './pin-response';

export interface PinOutcome {
  pin: PinResponse;
  /** False when the same reference at the same digest was already pinned: that pin is returned. */
  created: boolean;
}

/**
 * A tenant's pins: references resolved once to their digest (rule 1) and
 * recorded for the prepuller to warm (rule 4). Nothing is written until the
 * body is valid and the reference resolved, and the pin is charged to the
 * tenant's pin quotas as it is stored, so a rejected request leaves
 * nothing; another tenant's pin is "not found".
 */
@Injectable()
export class ImagePins {
  constructor(
    private readonly resolver: PinResolver,
    private readonly layers: ImageLayersRecorder,
    private readonly pins: PinRepository,
    private readonly status: PrepullStatus,
    @Inject(CONFIG) private readonly config: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly images: ImageRepository,
    private readonly limits: TenantLimits,
    private readonly scope: ReadScope,
  ) {}

  async pin(tenant: string, body: unknown): Promise<PinOutcome> {
    const parsed = pinRequestSchema.safeParse(body);
    if (!parsed.success) throw ApiError.invalidRequest('the pin request is not valid', describeIssues(parsed.error));
    const image = await this.resolver.resolve(parsed.data.image);
    // The reference resolved, so it parses.
    const reference = pinReference(parseImageReference(parsed.data.image, this.config.defaultRegistry));
    await this.layers.record(image);
    // What the pin makes each target node hold; 0 when the layers could not be read (the pin still counts).
    const bytes = (await this.images.get(image.digest))?.sizeBytes ?? 0;
    const outcome = await this.pins.createCharged(
      {
        id: newId('pin'),
        tenant,
        requested: image.requested,
        reference,
        pinned: image.pinned,
        digest: image.digest,
        nodeSelector: parsed.data.nodeSelector ?? {},
        createdAt: new Date().toISOString(),
      },
      this.limits.of(tenant),
      bytes,
    );
    if (outcome.kind === 'over-quota') throw ApiError.overQuota(outcome.refusal);
    if (outcome.created) {
      this.logger.info({ pinId: outcome.pin.id, reference, pinned: image.pinned, supersedes: outcome.superseded }, 'image pinned');
    }
    return { pin: await this.view(outcome.pin), created: outcome.created };
  }

  /** The caller's tenant's pins (an operator's: every tenant's). */
  async list(caller: Caller): Promise<PinResponse[]> {
    const perTenant = await Promise.all(this.scope.tenants(caller).map((tenant) => this.status.forTenant(tenant)));
    return perTenant.flat().map(toPinResponse);
  }

  /** A pin the caller may read (an operator: any tenant's). */
  async get(caller: Caller, id: string): Promise<PinResponse> {
    const pin = PIN_ID.test(id) ? await this.pins.get(id) : undefined;
    if (!pin || !this.scope.mayRead(caller, pin.tenant)) throw ApiError.notFound('pin');
    return this.view(pin);
  }

  async unpin(tenant: string, id: string): Promise<void> {
    const pin = await this.owned(tenant, id);
    // Removed meanwhile by another request: the outcome the client asked for.
    await this.pins.remove(pin);
    this.logger.info({ pinId: id, reference: pin.reference }, 'image unpinned');
  }

  private async owned(tenant: string, id: string): Promise<PinRecord> {
    const pin = PIN_ID.test(id) ? await this.pins.get(id) : undefined;
    if (!pin || pin.tenant !== tenant) throw ApiError.notFound('pin');
    return pin;
  }

  private async view(pin: PinRecord): Promise<PinResponse> {
    const [status] = await this.status.forPins([pin]);
    return status ? toPinResponse(status) : { ...pin, nodes: [], ready: 0 };
  }
}
