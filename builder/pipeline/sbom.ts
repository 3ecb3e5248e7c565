// The SBOM of an image as an SPDX 2.3 JSON document: the image, every package in it, and how they relate.
import type { PackagePin } from '../inputs/apt.ts';
import { sha256 } from './stage.ts';

// What the SBOM needs to know about one image.
export interface SbomImage {
  name: string;
  version: string;
  sourceDateEpoch: number;
  builder: string;
  packages: ReadonlyArray<PackagePin & { role: string; maintainer?: string }>;
  files: ReadonlyArray<{ name: string; sha256: string }>;
}

function spdxId(kind: string, name: string): string {
  return `SPDXRef-${kind}-${name.replace(/[^A-Za-z0-9.-]/g, '-')}`;
}

// Builds the SPDX document; everything in it is derived from the inputs, so it is byte-stable.
export function buildSbom(image: SbomImage): Record<string, unknown> {
  const rootId = spdxId('Image', image.name);
  const packages = [...image.packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const contentHash = sha256(JSON.stringify([image.name, image.version, packages.map((p) => p.sha256), image.files]));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${image.name}-${image.version}`,
    documentNamespace: `urn:multiverse:sbom:${image.name}:${image.version}:${contentHash}`,
    creationInfo: {
      created: new Date(image.sourceDateEpoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      creators: [`Tool: ${image.builder}`],
    },
    documentDescribes: [rootId],
    packages: [
      {
        SPDXID: rootId,
        name: image.name,
        versionInfo: image.version,
        primaryPackagePurpose: 'OPERATING-SYSTEM',
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        copyrightText: 'NOASSERTION',
        checksums: image.files.map((f) => ({ algorithm: 'SHA256', checksumValue: f.sha256 })),
        comment: `outputs: ${image.files.map((f) => f.name).join(', ')}`,
      },
      ...packages.map((p) => ({
        SPDXID: spdxId('Package', p.name),
        name: p.name,
        versionInfo: p.version,
        supplier: p.maintainer ? `Organization: ${p.maintainer}` : 'NOASSERTION',
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        copyrightText: 'NOASSERTION',
        checksums: [{ algorithm: 'SHA256', checksumValue: p.sha256 }],
        externalRefs: [
          {
            referenceCategory: 'PACKAGE-MANAGER',
            referenceType: 'purl',
            referenceLocator: `pkg:deb/debian/${p.name}@${encodeURIComponent(p.version)}?arch=${p.arch}`,
          },
        ],
        comment: `${p.role}; Debian pool file ${p.filename}`,
      })),
    ],
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: rootId },
      ...packages.map((p) => ({
        spdxElementId: rootId,
        relationshipType: 'CONTAINS',
        relatedSpdxElement: spdxId('Package', p.name),
      })),
    ],
  };
}
