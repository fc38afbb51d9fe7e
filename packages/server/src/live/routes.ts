import type { FastifyInstance } from 'fastify';
import type { LiveFilter, LiveHub } from './hub.js';

/** GET /api/blkkin/v1/live?serviceName=&minDuration= : server-sent events of ingested spans. */
export function liveRoutes(app: FastifyInstance, hub: LiveHub): void {
  app.get('/api/blkkin/v1/live', (req, reply) => {
    const query = req.query as Record<string, string | undefined>;
    const filter: LiveFilter = {};
    const service = query.serviceName?.trim().toLowerCase();
    if (service) filter.serviceName = service;
    if (query.minDuration !== undefined && query.minDuration !== '') {
      const minDuration = Number(query.minDuration);
      if (!Number.isSafeInteger(minDuration) || minDuration < 0) {
        return reply
          .code(400)
          .type('text/plain')
          .send(
            `minDuration must be a non-negative integer of microseconds, not '${query.minDuration}'`,
          );
      }
      filter.minDuration = minDuration;
    }
    reply.hijack();
    reply.raw.setHeader('access-control-allow-origin', '*');
    hub.subscribe(reply.raw, filter);
  });
}
