// The media stages: each boot medium the recipe asks for, written from the image's kernel and initrd (signed for Secure
// Boot).
import { EFI_SLOT_ARG } from '../../common/update/slots.ts';
import { isMedium, MEDIA, type MediumName } from '../media/formats.ts';
import { type MediaInput, mediaId } from '../media/input.ts';
import type { Recipe } from '../recipe/types.ts';
import { packageVersions } from '../tools/versions.ts';
import type { BuildContext } from './build.ts';
import { makeSignedUki } from './firmware.ts';
import type { BuiltImage } from './image.ts';
import { hashCode } from './sources.ts';
import { runLoggedStage } from './stage.ts';

// One output file (its name in images/<name>/) and the cache blob that holds it.
export interface OutputBlob {
  file: string;
  blob: string;
}

// What every medium of one image is written from, with its blobs by hash.
interface MediaSource {
  settings: Omit<MediaInput, 'vmlinuz' | 'initrd' | 'uki' | 'id'>;
  uki?: string;
  id: string;
}

// Secure Boot hosts boot a signed UKI from their UEFI media (iso, raw, qcow2); kernel+initrd alone needs no signature.
export function signsBootMedia(recipe: Recipe): boolean {
  return recipe.firmware.type === 'ovmf-secureboot' && recipe.outputs.some((f) => isMedium(f) && MEDIA[f].staged);
}

// A UKI's command line: the image's, and on a host with updates `mvos.slot=efi` (the same signed UKI serves either
// slot; the firmware's variables say which one booted).
export function ukiCmdline(recipe: Recipe, cmdline: string): string {
  return recipe.update ? `${cmdline} mvos.slot=${EFI_SLOT_ARG}` : cmdline;
}

async function mediaSource(ctx: BuildContext, image: BuiltImage): Promise<MediaSource> {
  const { recipe } = image;
  const settings = {
    name: recipe.name,
    version: recipe.version,
    cmdline: image.cmdline,
    boot: recipe.boot,
    stateLabel: recipe.host.stateLabel,
    sourceDateEpoch: ctx.lock.sourceDateEpoch,
  };
  const uki = signsBootMedia(recipe)
    ? await makeSignedUki(ctx, {
        recipe,
        vmlinuz: image.vmlinuz,
        initrd: image.initrd,
        cmdline: ukiCmdline(recipe, image.cmdline),
        sourceDateEpoch: ctx.lock.sourceDateEpoch,
      })
    : undefined;
  return { settings, uki, id: mediaId({ ...settings, vmlinuz: image.vmlinuz, initrd: image.initrd, uki }) };
}

// A medium's stage, keyed by the kernel, initrd, boot settings (all in the media id), the writer's code and its tools.
async function writeMedium(
  ctx: BuildContext,
  image: BuiltImage,
  name: MediumName,
  source: MediaSource,
): Promise<OutputBlob[]> {
  const medium = MEDIA[name];
  const { recipe } = image;
  const record = await runLoggedStage(
    ctx,
    `media-${name}(${recipe.name})`,
    { id: source.id, code: await hashCode(medium.code), tools: await packageVersions(medium.packages) },
    async () => {
      const input: MediaInput = {
        ...source.settings,
        vmlinuz: await ctx.cache.read(image.vmlinuz, `${recipe.name} kernel`),
        initrd: await ctx.cache.read(image.initrd, `${recipe.name} initrd`),
        ...(source.uki ? { uki: await ctx.cache.read(source.uki, `${recipe.name} signed UKI`) } : {}),
        id: source.id,
      };
      return medium.write(input);
    },
  );
  return Object.entries(record.outputs).map(([file, blob]) => ({ file, blob }));
}

// The files of every staged medium the recipe lists, in its order (kernel+initrd are the image's own files, written
// anyway), and a Secure Boot host's signed UKI.
export async function makeMedia(ctx: BuildContext, image: BuiltImage): Promise<OutputBlob[]> {
  const source = await mediaSource(ctx, image);
  const files: OutputBlob[] = [];
  for (const name of image.recipe.outputs.filter(isMedium)) {
    if (MEDIA[name].staged) files.push(...(await writeMedium(ctx, image, name, source)));
  }
  // The signed UKI itself, beside the media: what a Secure Boot host's update bundle carries.
  if (source.uki) files.push({ file: `${image.recipe.name}.efi`, blob: source.uki });
  return files;
}
