export * from './types';
export { PlacementIndex, DEFAULT_CANDIDATE_LIMIT } from './placement-index';
export { rejectionSummary, formatBytes } from './placement-reasons';
export { seededRandom } from './seeded-random';
export {
  NODE_STATUS_MAX_IMAGES,
  IMAGE_LOCALITY_MIN,
  IMAGE_LOCALITY_MAX_PER_CONTAINER,
  KUBE_DEFAULT_WEIGHTS,
  imageLocalityScore,
  leastAllocatedScore,
  balancedAllocationScore,
} from './image-locality';
export { warmScore } from './warm-ranking';
