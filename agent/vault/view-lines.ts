// The vault as lines of text, for the SSH jail and the host console: state, custodians, the CA, the entries (never a
// secret).
import type { VaultView } from '../../common/api-types.ts';
import { renderTable } from '../../common/table.ts';

type VaultEntryRow = NonNullable<VaultView['entries']>[number];
const VAULT_COLUMNS = [
  { header: 'NAME', cell: (e: VaultEntryRow) => e.name },
  { header: 'KIND', cell: (e: VaultEntryRow) => e.kind },
  { header: 'VM', cell: (e: VaultEntryRow) => e.vm ?? '-' },
];

// The vault's state, custodians, CA and entries as lines (never a secret).
export function vaultLines(view: VaultView): string[] {
  const r = view.recovery;
  return [
    `vault ${view.state}${view.entries ? `, ${view.entries.length} entries` : ''}${r ? `; custodians: any ${r.threshold} of ${r.shares} (set ${r.setId.slice(0, 8)})` : ''}`,
    ...(view.unlock.failures > 0
      ? [
          `${view.unlock.failures} failed unlock attempts in a row${view.unlock.retryAfterSeconds ? `; next in ${view.unlock.retryAfterSeconds} s` : ''}`,
        ]
      : []),
    ...(view.caPublicKey ? [`ssh CA ${view.caPublicKey}`] : []),
    ...(view.entries?.length ? ['', ...renderTable(VAULT_COLUMNS, view.entries)] : []),
  ];
}
