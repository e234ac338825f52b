// Drawing the page. Everything that came from the network is set as text
// (`textContent`, attributes by name), never parsed as HTML.

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const time = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

/** The list item of one message ({ id, owner, author, created, text }). */
function messageItem(message, mine) {
  const item = element('li', mine ? 'message mine' : 'message');
  item.dataset.id = message.id;
  const head = element('div', 'head');
  head.append(element('span', 'author', message.author || 'anonymous'));
  const key = element('span', 'key', message.owner.slice(0, 8));
  key.title = `public key ${message.owner}`;
  head.append(key);
  const when = element('time', 'when', time.format(new Date(message.created)));
  when.dateTime = new Date(message.created).toISOString();
  head.append(when);
  item.append(head, element('p', 'text', message.text));
  return item;
}

/** Redraws the messages (sorted), keeping the reader's place. */
export function drawMessages(messages, me, { stickToEnd, keepFromEnd }) {
  const list = $('messages');
  const scroller = $('scroller');
  const fromEnd = scroller.scrollHeight - scroller.scrollTop;
  const nearEnd = fromEnd - scroller.clientHeight < 80;
  list.replaceChildren(...messages.map((m) => messageItem(m, m.owner === me)));
  $('empty').hidden = messages.length > 0;
  if (keepFromEnd) {
    scroller.scrollTop = scroller.scrollHeight - fromEnd;
  } else if (stickToEnd || nearEnd) {
    scroller.scrollTop = scroller.scrollHeight;
  }
}

/** The channel list, the current one marked, unread counts beside others. */
export function drawChannels(channels, current, unread, onPick) {
  const list = $('channels');
  list.replaceChildren(
    ...[...channels].sort().map((name) => {
      const item = element('li');
      const button = element('button', name === current ? 'channel current' : 'channel', `#${name}`);
      button.type = 'button';
      button.dataset.channel = name;
      if (name === current) button.setAttribute('aria-current', 'page');
      button.addEventListener('click', () => onPick(name));
      item.append(button);
      const count = unread.get(name) ?? 0;
      if (count > 0 && name !== current) item.append(element('span', 'unread', String(count)));
      return item;
    }),
  );
  $('room-title').textContent = `#${current}`;
}

/** A problem the person should see (null hides it). */
export function showProblem(text) {
  const problem = $('problem');
  problem.textContent = text ?? '';
  problem.hidden = !text;
}

/** The status line at the bottom. */
export function showStatus(text) {
  $('status').textContent = text;
}

export { $ };
