import { writeFileSync } from 'node:fs';
import { CHART_ACL_TEMPLATE, chartAclTemplate } from './redis-acl-chart';

/** `npm run chart:acl`: rewrites the chart's Redis ACL helper from the generator (after changing service-users.ts). */
writeFileSync(CHART_ACL_TEMPLATE, chartAclTemplate());
console.log(`wrote ${CHART_ACL_TEMPLATE}`);
