import { type ConflictEntry } from './conflict-log.js';
import { type SessionState } from './demo-session.js';
import { byId, h, timeOf } from './dom.js';
import { type PostRow, type TypedItemRow } from './posts.repo.js';

const STATUS_TEXT: Record<SessionState['status'], string> = {
  idle: 'Starting…',
  syncing: 'Syncing…',
  synced: 'Up to date',
  error: 'Error',
};

/** Updates the Sync card. */
export function renderStatus(state: SessionState): void {
  const toggle = byId('online-toggle');
  toggle.setAttribute('aria-checked', String(state.online));
  // The switch keeps its name ("Online"); only its state changes (aria-checked, and on/off shown).
  byId('online-state').textContent = state.online ? 'on' : 'off';
  const status = byId('sync-status');
  const shown = state.phase === 'starting' ? 'idle' : !state.online ? 'offline' : state.status;
  status.dataset.state = shown;
  status.textContent =
    state.phase === 'starting'
      ? state.downloading
        ? 'Downloading your data…'
        : 'Connecting…'
      : shown === 'offline'
        ? 'Offline: changes stay on this device'
        : STATUS_TEXT[state.status];
  byId('pending-count').textContent = String(state.pendingRowCount);
  const lastSync = byId('last-sync');
  lastSync.textContent = state.lastSyncAt ? timeOf(state.lastSyncAt) : 'never';
  if (state.lastSyncAt) lastSync.setAttribute('datetime', state.lastSyncAt.toISOString());
  else lastSync.removeAttribute('datetime');
  byId('bundle-seq').textContent = `#${state.lastBundleSeq}`;
  byId('initial-progress').hidden = !state.downloading;
  const error = byId('sync-error');
  error.hidden = !state.error;
  error.textContent = state.error ?? '';
}

function postView(post: PostRow): HTMLLIElement {
  const label = post.title || 'untitled post';
  return h(
    'li',
    { class: 'post', 'data-post-id': post.id, 'data-title': post.title },
    h(
      'div',
      { class: 'post-head' },
      h('h3', { class: 'post-title' }, post.title),
      h(
        'div',
        { class: 'post-actions' },
        h(
          'button',
          { type: 'button', class: 'link edit', 'data-action': 'edit', 'aria-label': `Edit “${label}”` },
          'Edit',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'link danger delete',
            'data-action': 'delete',
            'aria-label': `Delete “${label}”`,
          },
          'Delete',
        ),
      ),
    ),
    ...(post.content ? [h('p', { class: 'post-content' }, post.content)] : []),
    h('div', { class: 'post-meta' }, `Updated ${timeOf(post.updatedAt)}`),
  );
}

function editView(post: PostRow): HTMLLIElement {
  const titleId = `edit-title-${post.id}`;
  const contentId = `edit-content-${post.id}`;
  const title = h('input', {
    id: titleId,
    class: 'edit-title',
    name: 'title',
    required: '',
    maxlength: '200',
  });
  title.value = post.title;
  const content = h('textarea', { id: contentId, class: 'edit-content', name: 'content', rows: '3' });
  content.value = post.content;
  return h(
    'li',
    { class: 'post editing', 'data-post-id': post.id, 'data-title': post.title },
    h(
      'form',
      { class: 'post-edit', 'data-action': 'save' },
      h('label', { for: titleId }, 'Title'),
      title,
      h('label', { for: contentId }, 'Content'),
      content,
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', class: 'ghost cancel', 'data-action': 'cancel' }, 'Cancel'),
        h('button', { type: 'submit', class: 'save' }, 'Save'),
      ),
    ),
  );
}

/** Where keyboard focus is inside the post list, so a re-render can put it back. */
interface ListFocus {
  postId: string;
  /** Selector of the focused control inside its post (`[data-action="edit"]`, `.edit-title`, …). */
  selector: string;
  selection?: { start: number | null; end: number | null; direction: 'forward' | 'backward' | 'none' | null };
}

function focusIn(list: HTMLElement): ListFocus | undefined {
  const active = document.activeElement;
  if (!(active instanceof HTMLElement) || !list.contains(active)) return undefined;
  const postId = active.closest<HTMLElement>('[data-post-id]')?.dataset.postId;
  const selector = active.dataset.action
    ? `[data-action="${active.dataset.action}"]`
    : active.classList.contains('edit-title')
      ? '.edit-title'
      : active.classList.contains('edit-content')
        ? '.edit-content'
        : active.classList.contains('save')
          ? '.save'
          : undefined;
  if (!postId || !selector) return undefined;
  const field = active instanceof HTMLInputElement || active instanceof HTMLTextAreaElement ? active : null;
  return {
    postId,
    selector,
    selection: field
      ? { start: field.selectionStart, end: field.selectionEnd, direction: field.selectionDirection }
      : undefined,
  };
}

/** Focuses `selector` inside the post `postId` of the list, if it is there. */
export function focusPostControl(postId: string, selector: string): HTMLElement | null {
  const list = byId('post-list');
  const post = [...list.querySelectorAll<HTMLElement>('[data-post-id]')].find(
    (element) => element.dataset.postId === postId,
  );
  const control = post?.querySelector<HTMLElement>(selector) ?? null;
  control?.focus({ preventScroll: true });
  return control;
}

function restoreFocus(focus: ListFocus): void {
  const control = focusPostControl(focus.postId, focus.selector);
  const { selection } = focus;
  if (
    selection &&
    selection.start !== null &&
    selection.end !== null &&
    (control instanceof HTMLInputElement || control instanceof HTMLTextAreaElement)
  ) {
    control.setSelectionRange(selection.start, selection.end, selection.direction ?? undefined);
  }
}

/** What the list shows now, so a render with nothing new leaves the DOM (and focus) alone. */
let shownPosts: string | undefined;

/**
 * Renders the post list; the post being edited keeps its form (and whatever was typed), and
 * keyboard focus stays on the control it was on (a sync re-renders the list at any time).
 */
export function renderPosts(posts: readonly PostRow[], editingId: string | undefined): void {
  const list = byId('post-list');
  const shown = JSON.stringify([editingId ?? null, posts]);
  if (shown === shownPosts) return;
  shownPosts = shown;
  const focus = focusIn(list);
  const openForm = editingId
    ? ([...list.querySelectorAll<HTMLLIElement>('li.editing')].find(
        (element) => element.dataset.postId === editingId,
      ) ?? null)
    : null;
  list.replaceChildren(
    ...posts.map((post) => (post.id === editingId ? (openForm ?? editView(post)) : postView(post))),
  );
  if (focus) restoreFocus(focus);
  byId('post-count').textContent = String(posts.length);
  byId('no-posts').hidden = posts.length > 0;
}

/** Renders the Conflicts panel, newest first. */
export function renderConflicts(entries: readonly ConflictEntry[]): void {
  byId('conflict-list').replaceChildren(
    ...entries.map((entry) =>
      h(
        'li',
        { class: 'conflict', 'data-resolution': entry.resolution, 'data-key': entry.key },
        h('span', { class: 'badge' }, `${entry.table} · ${entry.resolution}`),
        ' ',
        h('time', { datetime: entry.at.toISOString() }, timeOf(entry.at)),
        h('p', { class: 'summary' }, entry.summary),
        h(
          'p',
          { class: 'sides' },
          `This device: ${entry.localTitle === null ? '(deleted)' : `“${entry.localTitle}”`} · ` +
            `Server: ${entry.serverTitle === null ? '(deleted)' : `“${entry.serverTitle}”`}`,
        ),
      ),
    ),
  );
  byId('conflict-count').textContent = String(entries.length);
  byId('no-conflicts').hidden = entries.length > 0;
}

/**
 * Empties every view of a session: called when one ends and before the next one shows, so the
 * next user never sees the previous user's posts, conflicts or sync state.
 */
export function clearViews(state: SessionState): void {
  shownPosts = undefined;
  renderStatus(state);
  renderPosts([], undefined);
  renderConflicts([]);
  renderTyped([]);
}

/** Renders the typed values card. */
export function renderTyped(items: readonly TypedItemRow[]): void {
  byId('typed-list').replaceChildren(
    ...items.map((item) => {
      const facts: Array<[string, string]> = [
        ['uuid', item.id],
        ['bytea', item.dataHex ? `0x${item.dataHex}` : '—'],
        ['timestamptz', item.seenAt ?? '—'],
        ['boolean', String(item.done)],
        ['numeric', item.amount ?? '—'],
        ['jsonb', item.meta ?? '—'],
      ];
      return h(
        'li',
        { class: 'typed-item', 'data-item-id': item.id },
        h('strong', {}, item.label),
        h('dl', {}, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      );
    }),
  );
  byId('no-typed').hidden = items.length > 0;
}
