import type { QueueDefinition } from './boss.ts'

// Every queue the hub uses. The pipeline modules add theirs here.
export const queueDefinitions: QueueDefinition[] = []
