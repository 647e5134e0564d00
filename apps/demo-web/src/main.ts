/**
 * The Oversync demo page: sign in with the development login, then read and write posts in a
 * local SQLite database that `@oversync/client` keeps in sync with the server.
 */
import { isOversyncClientError } from '@oversync/client';
import { devLogin, loadLogin, saveLogin, type StoredLogin } from './auth.js';
import { type ConflictPolicy } from './conflict-log.js';
import { DemoSession, initialState } from './demo-session.js';
import { byId } from './dom.js';
import {
  clearViews,
  focusPostControl,
  renderConflicts,
  renderPosts,
  renderStatus,
  renderTyped,
} from './view.js';

const POLICY_KEY = 'oversync-demo:conflict-policy';
const baseUrl = location.origin;
const policySelect = byId<HTMLSelectElement>('conflict-policy');
let session: DemoSession | undefined;
/** Bumped by every sign-in and sign-out: a start that is no longer the latest gives up. */
let startToken = 0;
/** Settles once the last start finished, including closing a session it opened in vain. */
let starting: Promise<void> = Promise.resolve();
let editingId: string | undefined;
let renderQueued = false;

function render(): void {
  renderQueued = false;
  if (!session) return;
  renderStatus(session.state);
  renderPosts(session.repo.list(), editingId);
  renderConflicts(session.conflicts.entries);
  renderTyped(session.repo.typedItems());
  byId('user-name').textContent = session.repo.userName(session.login.userId) ?? session.login.userId;
}

/** Coalesces the many status events of one sync into one render. */
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(render);
}

function showSignedIn(login: StoredLogin | undefined): void {
  // Whoever signs in next starts from empty views, never from the previous user's.
  clearViews(initialState(login?.userId));
  byId('sign-in-view').hidden = login !== undefined;
  byId('app-view').hidden = login === undefined;
  byId('account').hidden = login === undefined;
  byId('user-id').textContent = login?.userId ?? '';
  byId('user-name').textContent = login?.userId ?? '';
  document.title = login ? `Oversync demo · ${login.userId}` : 'Oversync demo';
}

function signInError(message: string | undefined): void {
  const element = byId('sign-in-error');
  element.hidden = !message;
  element.textContent = message ?? '';
}

/**
 * Opens the session of `login` unless a sign-out or another sign-in came first (`token` is then
 * stale): a session opened in vain is closed at once, so it never keeps the user's database lock.
 */
async function openUnlessSuperseded(login: StoredLogin, token: number): Promise<DemoSession | undefined> {
  if (token !== startToken) return undefined;
  const opened = await DemoSession.open(
    baseUrl,
    login,
    () => policySelect.value as ConflictPolicy,
    scheduleRender,
  );
  if (token === startToken) return opened;
  await opened.close();
  return undefined;
}

async function startSession(login: StoredLogin): Promise<void> {
  const token = ++startToken;
  showSignedIn(login);
  // One start at a time: the previous one may still hold the lock of a session it is closing.
  const attempt = starting.then(() => openUnlessSuperseded(login, token));
  starting = attempt.then(
    () => undefined,
    () => undefined,
  );
  let opened: DemoSession | undefined;
  try {
    opened = await attempt;
  } catch (error) {
    if (token !== startToken) return; // signed out meanwhile: nobody waits for this start
    showSignedIn(undefined);
    signInError(
      isOversyncClientError(error, 'database_locked')
        ? `${login.userId} is already open in another tab of this browser. Use that tab, or a private window or another browser as a second device.`
        : `Could not open the local database: ${error instanceof Error ? error.message : String(error)}`,
    );
    return;
  }
  if (!opened) return;
  session = opened;
  render();
  await opened.connect();
}

async function signOut(): Promise<void> {
  startToken += 1;
  const current = session;
  session = undefined;
  editingId = undefined;
  saveLogin(undefined);
  showSignedIn(undefined);
  const closing = current?.close() ?? Promise.resolve();
  // The next start waits until this session let go of its database (its lock): closing waits for
  // the operation in flight (an attach), and a sign-in meanwhile would meet the lock still held.
  const previous = starting;
  starting = Promise.allSettled([previous, closing]).then(() => undefined);
  try {
    await closing;
  } catch (error) {
    // The session's views are gone: say it here, or the loss would go unnoticed.
    signInError(
      `Signed out, but the latest changes were not saved on this device and are lost: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  // A session still starting closes itself when its open() returns (the token changed).
  await previous;
}

/** Runs an event handler's async work, reporting failures on the page. */
function run(task: () => Promise<void>): void {
  task().catch((error: unknown) => {
    const element = byId('sync-error');
    element.hidden = false;
    element.textContent = error instanceof Error ? error.message : String(error);
  });
}

byId<HTMLFormElement>('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const userId = byId<HTMLInputElement>('user-id-input').value.trim();
  run(async () => {
    signInError(undefined);
    try {
      const login = await devLogin(baseUrl, userId);
      saveLogin(login);
      await startSession(login);
    } catch (error) {
      signInError(error instanceof Error ? error.message : String(error));
    }
  });
});

byId('sign-out').addEventListener('click', () => run(signOut));

byId('online-toggle').addEventListener('click', () => {
  if (session) run(() => session!.setOnline(!session!.state.online));
});

policySelect.value = localStorage.getItem(POLICY_KEY) ?? 'merge';
policySelect.addEventListener('change', () => localStorage.setItem(POLICY_KEY, policySelect.value));

byId<HTMLFormElement>('new-post-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const title = byId<HTMLInputElement>('new-post-title').value.trim();
  const content = byId<HTMLTextAreaElement>('new-post-content').value.trim();
  const current = session;
  if (!current || !title) return;
  run(async () => {
    await current.write((repo) => repo.add(current.login.userId, title, content));
    form.reset();
  });
});

const postList = byId('post-list');

/** Closes the edit form of post `id` and gives keyboard focus back to its Edit button. */
function stopEditing(id: string): void {
  editingId = undefined;
  render();
  focusPostControl(id, '[data-action="edit"]');
}

postList.addEventListener('click', (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
  const id = button?.closest<HTMLElement>('[data-post-id]')?.dataset.postId;
  const current = session;
  if (!button || !id || !current) return;
  const action = button.dataset.action;
  if (action === 'edit') {
    editingId = id;
    render();
    focusPostControl(id, '.edit-title');
  } else if (action === 'cancel') {
    stopEditing(id);
  } else if (action === 'delete') {
    if (editingId === id) editingId = undefined;
    const item = button.closest<HTMLElement>('[data-post-id]');
    const neighbour = (item?.nextElementSibling ?? item?.previousElementSibling) as HTMLElement | null;
    // write() deletes the row at once (then saves): render now and move focus off the removed post.
    run(() => current.write((repo) => repo.remove(id)));
    render();
    const next = neighbour?.dataset.postId;
    if (!next || !focusPostControl(next, '[data-action="delete"]')) byId('new-post-title').focus();
  }
});

postList.addEventListener('keydown', (event) => {
  const id = (event.target as HTMLElement).closest<HTMLElement>('li.editing')?.dataset.postId;
  if (event.key !== 'Escape' || !id) return;
  event.preventDefault();
  stopEditing(id);
});
postList.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const id = form.closest<HTMLElement>('[data-post-id]')?.dataset.postId;
  const current = session;
  if (!id || !current) return;
  const title = form.querySelector<HTMLInputElement>('.edit-title')?.value.trim() ?? '';
  const content = form.querySelector<HTMLTextAreaElement>('.edit-content')?.value.trim() ?? '';
  if (!title) return;
  // write() changes the row at once (then saves): the list shows the new title right away.
  run(() => current.write((repo) => repo.update(id, title, content)));
  stopEditing(id);
});

// The browser regained a network: restart background sync so it does not wait out an error backoff.
window.addEventListener('online', () => {
  if (session?.state.online) run(() => session!.setOnline(true));
});

const stored = loadLogin();
if (stored) run(() => startSession(stored));
else showSignedIn(undefined);
