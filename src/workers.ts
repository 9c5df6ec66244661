import type { Hub } from './hub.ts'

export interface Workers { stop (): Promise<void> }

// Registers every job handler on this process. The pipeline adds its handlers here.
export async function startWorkers (hub: Hub): Promise<Workers> {
  const registered: { name: string, id: string }[] = []
  return {
    async stop () {
      await Promise.all(registered.map(w => hub.boss.offWork(w.name, { id: w.id, wait: true })))
    }
  }
}
