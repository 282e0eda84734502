import type { PlacementNode } from '../types';

/** A ready, uncordoned node with nothing allocated, no images and no checkpoints; `over` sets the rest. Test code only. */
export function placementNode(id: string, over: Partial<PlacementNode> = {}): PlacementNode {
  return {
    id,
    ready: true,
    cordoned: false,
    labels: {},
    capacity: { cpu: 8, memoryMiB: 16384, gpu: 0 },
    allocated: { cpu: 0, memoryMiB: 0, gpu: 0 },
    images: [],
    checkpointKeys: [],
    ...over,
  };
}
