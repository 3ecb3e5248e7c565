// The agent stage: agent/main.ts and what it imports bundled into the one file the host runs.
import { bundleAgent } from '../agent/bundle.ts';
import type { ImageContext } from './image.ts';
import { hashSources } from './sources.ts';
import { runLoggedStage } from './stage.ts';

// The bundle (agent.mjs) as a cache blob.
export async function bundleAgentStage(ctx: ImageContext): Promise<string> {
  const record = await runLoggedStage(ctx, 'agent', { sources: hashSources(['agent', 'builder', 'common']) }, async () => {
    const bundle = await bundleAgent();
    return { 'agent.mjs': bundle.code };
  });
  return record.outputs['agent.mjs']!;
}
