import type { Resources } from '@warmpod/domain';
import type { CachedImageMessage, CheckpointMessage, InventoryDeltaMessage, InventoryMessage } from './messages';

/** What the node holds and runs right now, as the agent sees it. */
export interface AgentInventory {
  images: CachedImageMessage[];
  runningPods: string[];
  checkpoints: CheckpointMessage[];
  usage: Resources;
}

/** The parts of an inventory that change on their own: a change report collects only those that changed. */
export type InventoryPart = 'images' | 'runningPods' | 'checkpoints';
export const INVENTORY_PARTS: ReadonlySet<InventoryPart> = new Set<InventoryPart>(['images', 'runningPods', 'checkpoints']);

/** What a collection asked for some parts returns: at least those parts (usage is always there). */
export type InventoryParts = Partial<Pick<AgentInventory, InventoryPart>> & Pick<AgentInventory, 'usage'>;

/** The last inventory with the parts just collected put in. */
export function withParts(last: AgentInventory, parts: InventoryParts): AgentInventory {
  return {
    images: parts.images ?? last.images,
    runningPods: parts.runningPods ?? last.runningPods,
    checkpoints: parts.checkpoints ?? last.checkpoints,
    usage: parts.usage,
  };
}

/** A collection of every part as a whole inventory; one that left a part out is the collector's bug. */
export function wholeInventory(parts: InventoryParts): AgentInventory {
  const { images, runningPods, checkpoints, usage } = parts;
  if (!images || !runningPods || !checkpoints) throw new Error('the inventory collector left a part out of a full collection');
  return { images, runningPods, checkpoints, usage };
}

/** What was last reported, in a form cheap to compare the next inventory with. */
export interface SentState {
  images: Map<string, string>;
  runningPods: string;
  checkpoints: string;
  usage: string;
}

/** The full inventory as the first report of a session carries it. */
export function inventoryMessage(inventory: AgentInventory): InventoryMessage {
  return {
    images: inventory.images,
    runningPods: inventory.runningPods,
    checkpoints: inventory.checkpoints,
    usage: usageMessage(inventory.usage),
  };
}

export function snapshot(inventory: AgentInventory): SentState {
  return {
    images: new Map(inventory.images.map((i) => [i.digest, JSON.stringify(i)])),
    runningPods: JSON.stringify([...inventory.runningPods].sort()),
    checkpoints: JSON.stringify(inventory.checkpoints),
    usage: JSON.stringify(inventory.usage),
  };
}

/**
 * The change report from what was last sent to `now`, or undefined when
 * nothing changed. Images travel as additions and removals (a node may
 * cache thousands); running pods, checkpoints and usage as full values.
 */
export function changes(sent: SentState, now: AgentInventory): InventoryDeltaMessage | undefined {
  const next = snapshot(now);
  const addedImages = now.images.filter((i) => sent.images.get(i.digest) !== next.images.get(i.digest));
  const removedImages = [...sent.images.keys()].filter((d) => !next.images.has(d));
  const same =
    addedImages.length === 0 &&
    removedImages.length === 0 &&
    sent.runningPods === next.runningPods &&
    sent.checkpoints === next.checkpoints &&
    sent.usage === next.usage;
  if (same) return undefined;
  return { addedImages, removedImages, runningPods: now.runningPods, checkpoints: now.checkpoints, usage: usageMessage(now.usage) };
}

function usageMessage(usage: Resources): InventoryMessage['usage'] {
  return { cpu: usage.cpu, memoryMib: usage.memoryMiB, gpu: usage.gpu };
}
