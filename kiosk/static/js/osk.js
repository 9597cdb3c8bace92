/*
 * On-screen keyboard for the kiosk, with offline pinyin input.
 *
 * The kiosk has no physical keyboard and the system keyboards do not work in a
 * kiosk browser, so every page brings this one. Inputs opt in with
 * data-osk="text|digits|phone|plate|code" (and inputmode="none" so no system
 * keyboard appears); the page holds one empty <div id="osk"> whose data-label-*
 * attributes carry the translated key labels. Chinese is typed as pinyin: the
 * letters collect in a composition bar and the server's /ime/candidates
 * endpoint (kiosk/ime.py) offers characters and words to pick. Residents who
 * cannot spell pinyin tap 手写 and write a character with a finger on a pad;
 * /handwriting/candidates (kiosk/handwriting_views.py) offers what it could be.
 * Every tap and every stroke dispatches "kiosk:activity" on window, so the
 * idle timer (kiosk.js) never resets a page someone is writing on.
 *
 * API for other scripts: window.KioskOSK.open(input), .close(), .reset().
 */
(function () {
  'use strict';

  const PROVINCES = Array.from('京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼');
  const QWERTY = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm'];
  // Plates never use I or O: they read as 1 and 0.
  const PLATE_LETTERS = ['QWERTYUP', 'ASDFGHJKL', 'ZXCVBNM'];
  const DIGITS = '1234567890';
  const SYMBOLS = [
    Array.from(DIGITS),
    Array.from('，。？！、：；“”…'),
    Array.from('@.,-_/:#'),
  ];
  // 'code': a tracking or voucher number (P261206-K7QM-0001): capitals, digits and '-', no pinyin.
  const KINDS = ['text', 'digits', 'phone', 'plate', 'code'];
  const CODE_LETTERS = ['QWERTYUIOP', 'ASDFGHJKL', 'ZXCVBNM'];
  const PHONE_MAX = 11; // mainland mobile numbers
  const PLATE_MAX = 8; // new-energy plates have 8 characters, the others 7
  const COMPOSE_MAX = 32; // well inside the endpoint's 64-letter limit
  const FETCH_LIMIT = 60;
  const DEBOUNCE_MS = 60;
  const CACHE_SIZE = 64;
  // Handwriting: the server refuses more (kiosk/handwriting.py); a finger's
  // points closer than HW_STEP px add nothing a recognizer can use.
  const HW_MAX_STROKES = 60;
  const HW_MAX_POINTS = 240;
  const HW_STEP = 4;
  const HW_CANDIDATES = 10;

  const state = {
    root: null,
    keys: null,
    compose: null,
    composeText: null,
    candidateRow: null,
    prevButton: null,
    moreButton: null,
    labels: {},
    imeUrl: '/ime/candidates',
    defaultMode: 'zh',
    input: null,
    kind: 'text',
    page: 'letters',
    mode: 'zh',
    caps: false,
    composition: '',
    candidates: [],
    candidatesFor: '',
    pageStarts: [0],
    nextStart: 0,
    pickFirstWhenReady: false,
    fetchSeq: 0,
    timer: 0,
    valueAtOpen: '',
    cache: new Map(),
    hwUrl: '/handwriting',
    hw: {
      status: null, // {available, message, labels} from /handwriting/status
      loading: false,
      strokes: [],
      drawing: null, // the stroke under the finger: {id, points}
      candidates: [],
      seq: 0,
      canvas: null,
      candidateBox: null,
      hint: null,
      size: { width: 0, height: 0 },
    },
  };

  // ---------------------------------------------------------------- setup

  function init() {
    const root = document.getElementById('osk');
    if (!root || state.root) return;
    state.root = root;
    const data = root.dataset;
    const zh = (data.lang || '').toLowerCase().startsWith('zh');
    // The shell's contract names the labels below up to data-label-mode-num;
    // the rest are optional, with a symbol to show and a word to read aloud.
    state.labels = {
      backspace: data.labelBackspace || '⌫',
      space: data.labelSpace || '␣',
      done: data.labelDone || '✓',
      clear: data.labelClear || '✕',
      zh: data.labelModeZh || '中',
      en: data.labelModeEn || 'EN',
      num: data.labelModeNum || '123',
      shift: '⇧',
      shiftName: data.labelShift || (zh ? '大写' : 'Shift'),
      more: '›',
      moreName: data.labelMore || (zh ? '更多' : 'More'),
      prev: '‹',
      prevName: data.labelPrev || (zh ? '上一页' : 'Previous'),
      provinces: data.labelProvinces || '京沪粤',
      plateLetters: data.labelPlateLetters || 'ABC123',
      // Until /handwriting/status answers in the page's language.
      handwriting: data.labelHandwriting || (zh ? (hant(data.lang) ? '手寫' : '手写') : 'Write'),
      pinyin: zh ? '拼音' : 'Pinyin',
      undo: zh ? (hant(data.lang) ? '復原' : '撤销') : 'Undo',
      hwHint: '',
    };
    state.imeUrl = data.imeUrl || state.imeUrl;
    state.hwUrl = data.handwritingUrl || state.hwUrl;
    state.defaultMode = zh ? 'zh' : 'en';
    state.mode = state.defaultMode;
    buildSkeleton(root);

    // Keys act on click, which fires once per tap whatever the input device;
    // pointerdown is cancelled only so the tap neither moves focus off the
    // input nor starts text selection. Acting on both would type twice.
    root.addEventListener('pointerdown', onKeyPointerDown);
    root.addEventListener('pointerup', clearPressed);
    root.addEventListener('pointercancel', clearPressed);
    root.addEventListener('pointerleave', clearPressed);
    root.addEventListener('mousedown', (event) => event.preventDefault());
    root.addEventListener('contextmenu', (event) => event.preventDefault());
    root.addEventListener('click', onKeyClick);

    // Delegated on the document so inputs added later need no wiring.
    document.addEventListener('focusin', onFocusIn);
    document.addEventListener('click', onDocumentClick);
    document.addEventListener('pointerdown', onOutsidePointerDown, true);

    // An input can be focused before this deferred script runs (a tap on a
    // slow or busy kiosk lands as soon as the field is painted); its focusin
    // came too early to be heard, so open for it now rather than never.
    if (eligible(document.activeElement)) open(document.activeElement);
  }

  function hant(lang) {
    return /hant|tw|hk|mo/i.test(lang || '');
  }

  function buildSkeleton(root) {
    root.classList.add('osk');
    root.setAttribute('role', 'group');
    root.replaceChildren();

    const compose = el('div', 'osk-compose');
    const composeText = button('compose', '', 'osk-composition');
    composeText.setAttribute('aria-live', 'polite');
    const row = el('div', 'osk-candidates');
    const prev = button('candidates-prev', state.labels.prev, 'osk-key osk-fn osk-page');
    const more = button('candidates-more', state.labels.more, 'osk-key osk-fn osk-page');
    prev.setAttribute('aria-label', state.labels.prevName);
    more.setAttribute('aria-label', state.labels.moreName);
    compose.append(composeText, row, prev, more);

    const keys = el('div', 'osk-keys');
    root.append(compose, keys);
    Object.assign(state, {
      compose,
      composeText,
      candidateRow: row,
      prevButton: prev,
      moreButton: more,
      keys,
    });
  }

  function el(tag, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  function button(key, label, className) {
    const node = el('button', className);
    node.type = 'button';
    if (key !== null) node.dataset.key = key;
    node.textContent = label;
    return node;
  }

  // -------------------------------------------------------------- layouts

  /** A character key: its value is what it types. */
  function charKey(value, label) {
    return { key: value, label: label === undefined ? value : label, cls: 'osk-key' };
  }

  /** A function key: labelled from the page's translated data-label-* texts. */
  function fnKey(key, label, extra) {
    return { key, label, aria: label, cls: 'osk-key osk-fn' + (extra ? ' ' + extra : '') };
  }

  function backspaceKey() {
    return fnKey('backspace', state.labels.backspace, 'osk-wide');
  }

  function bottomRow(first) {
    return [
      ...first,
      fnKey('space', state.labels.space, 'osk-space'),
      fnKey('clear', state.labels.clear, 'osk-wide'),
      fnKey('done', state.labels.done, 'osk-wide osk-done'),
    ];
  }

  function modeKey() {
    const spec = fnKey('mode', '', 'osk-wide osk-mode');
    spec.aria = state.labels.zh + ' / ' + state.labels.en;
    spec.parts = [
      { text: state.labels.zh, on: state.mode === 'zh' },
      { text: state.labels.en, on: state.mode === 'en' },
    ];
    return spec;
  }

  function layoutRows() {
    const { kind, page } = state;
    if (kind === 'digits' || kind === 'phone') {
      return [
        Array.from('123').map((d) => charKey(d)),
        Array.from('456').map((d) => charKey(d)),
        Array.from('789').map((d) => charKey(d)),
        [fnKey('clear', state.labels.clear), charKey('0'), fnKey('backspace', state.labels.backspace)],
        [fnKey('done', state.labels.done, 'osk-done')],
      ];
    }
    if (kind === 'code') {
      return [
        [...Array.from(DIGITS).map((d) => charKey(d)), charKey('-')],
        ...CODE_LETTERS.map((row, i) => {
          const keys = Array.from(row).map((c) => charKey(c));
          if (i === CODE_LETTERS.length - 1) keys.push(backspaceKey());
          return keys;
        }),
        [fnKey('clear', state.labels.clear, 'osk-wide'), fnKey('done', state.labels.done, 'osk-wide osk-done')],
      ];
    }
    if (kind === 'plate') {
      const tail = [
        fnKey('clear', state.labels.clear, 'osk-wide'),
        fnKey('done', state.labels.done, 'osk-wide osk-done'),
      ];
      if (page === 'provinces') {
        const rows = [];
        for (let i = 0; i < PROVINCES.length; i += 8) {
          rows.push(PROVINCES.slice(i, i + 8).map((p) => charKey(p)));
        }
        rows[rows.length - 1].push(backspaceKey());
        rows.push([fnKey('plate-letters', state.labels.plateLetters, 'osk-wide'), ...tail]);
        return rows;
      }
      return [
        Array.from(DIGITS).map((d) => charKey(d)),
        ...PLATE_LETTERS.map((row, i) => {
          const keys = Array.from(row).map((c) => charKey(c));
          if (i === PLATE_LETTERS.length - 1) keys.push(backspaceKey());
          return keys;
        }),
        [fnKey('provinces', state.labels.provinces, 'osk-wide'), ...tail],
      ];
    }
    if (page === 'symbols') {
      const rows = SYMBOLS.map((row) => row.map((c) => charKey(c)));
      rows[rows.length - 1].push(backspaceKey());
      const back = fnKey('letters', state.mode === 'zh' ? state.labels.zh : state.labels.en, 'osk-wide');
      rows.push(bottomRow([back]));
      return rows;
    }
    const upper = state.mode === 'en' && state.caps;
    const rows = QWERTY.map((row) =>
      Array.from(row).map((c) => charKey(c, upper ? c.toUpperCase() : c)),
    );
    if (state.mode === 'en') {
      const shift = fnKey('shift', state.labels.shift, 'osk-wide');
      shift.aria = state.labels.shiftName;
      shift.pressed = state.caps;
      rows[2].unshift(shift);
    }
    rows[2].push(backspaceKey());
    rows.push(
      bottomRow([
        fnKey('symbols', state.labels.num, 'osk-wide'),
        modeKey(),
        fnKey('handwriting', state.labels.handwriting, 'osk-wide osk-hw-key'),
      ]),
    );
    return rows;
  }

  function render() {
    const root = state.root;
    root.dataset.layout = state.kind;
    root.dataset.page = state.page;
    root.dataset.mode = state.mode;
    if (state.page === 'handwriting') {
      renderPad();
      return;
    }
    const rows = layoutRows();
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      const line = el('div', 'osk-row');
      for (const spec of row) line.append(renderKey(spec));
      fragment.append(line);
    }
    state.keys.replaceChildren(fragment);
    renderComposition();
    updateHeight();
  }

  function renderKey(spec) {
    const node = button(spec.key, spec.parts ? '' : spec.label, spec.cls);
    if (spec.parts) {
      spec.parts.forEach((part, i) => {
        if (i) node.append(el('span', 'osk-sep'));
        const span = el('span', part.on ? 'osk-on' : 'osk-off');
        span.textContent = part.text;
        node.append(span);
      });
    }
    if (spec.aria) node.setAttribute('aria-label', spec.aria);
    if (spec.pressed !== undefined) node.setAttribute('aria-pressed', String(spec.pressed));
    return node;
  }

  /** Whether letters go to the pinyin composition bar rather than the input. */
  function composing() {
    return state.kind === 'text' && state.mode === 'zh' && state.page !== 'handwriting';
  }

  // -------------------------------------------------------- open / close

  function eligible(node) {
    return (
      node instanceof HTMLElement &&
      node.matches('input[data-osk], textarea[data-osk]') &&
      !node.disabled &&
      !node.readOnly
    );
  }

  /** Show the keyboard for `input` (an element with data-osk), closing any other first. */
  function open(input) {
    if (!state.root) init();
    if (!state.root || !eligible(input)) return;
    if (state.input === input && !state.root.hidden) return;
    if (state.input && state.input !== input) close();
    state.input = input;
    const kind = input.dataset.osk;
    state.kind = KINDS.includes(kind) ? kind : 'text';
    state.page = startPage();
    state.caps = false;
    state.valueAtOpen = input.value;
    setComposition('');
    clearPad();
    if (state.kind === 'text') loadHandwritingStatus();
    state.root.hidden = false;
    document.body.classList.add('osk-open');
    render();
    if (document.activeElement !== input) input.focus({ preventScroll: true });
    keepVisible(input);
  }

  function startPage() {
    if (state.kind === 'plate') return state.input.value ? 'plate' : 'provinces';
    if (state.kind === 'text') return 'letters';
    return 'keypad';
  }

  /**
   * Hide the keyboard. Unpicked pinyin is typed as letters (what phone
   * keyboards do), and `change` fires once if the value changed since opening.
   */
  function close(options) {
    const commit = !options || options.commit !== false;
    const input = state.input;
    if (input && commit && state.composition) insertText(state.composition, true);
    setComposition('');
    if (state.root) state.root.hidden = true;
    document.body.classList.remove('osk-open');
    document.documentElement.style.removeProperty('--osk-height');
    state.input = null;
    if (input && input.isConnected && input.value !== state.valueAtOpen) {
      input.dispatchEvent(new Event('change', { bubbles: true }));
    }
    return input;
  }

  /** Drop the composition, go back to the default mode and hide: the idle timer's hand-over. */
  function reset() {
    const input = close({ commit: false });
    state.mode = state.defaultMode;
    state.caps = false;
    // Even the remembered lookups say what the last person typed, and so does the pad.
    state.cache.clear();
    clearPad();
    if (input && document.activeElement === input) input.blur();
  }

  function updateHeight() {
    if (state.root.hidden) return;
    const height = state.root.getBoundingClientRect().height;
    document.documentElement.style.setProperty('--osk-height', Math.ceil(height) + 'px');
  }

  function keepVisible(input) {
    const top = state.root.getBoundingClientRect().top;
    const rect = input.getBoundingClientRect();
    if (rect.bottom > top || rect.top < 0) input.scrollIntoView({ block: 'center' });
  }

  // --------------------------------------------------------------- events

  function onKeyPointerDown(event) {
    event.preventDefault();
    const key = event.target.closest('button');
    if (key && state.root.contains(key)) key.classList.add('osk-pressed');
  }

  function clearPressed() {
    for (const key of state.root.querySelectorAll('.osk-pressed')) key.classList.remove('osk-pressed');
  }

  function onKeyClick(event) {
    const key = event.target.closest('button');
    if (!key || !state.root.contains(key) || key.disabled) return;
    event.preventDefault();
    clearPressed();
    activity();
    if (!state.input || !state.input.isConnected) {
      close({ commit: false });
      return;
    }
    if (key.dataset.candidate !== undefined) pick(Number(key.dataset.candidate));
    else if (key.dataset.hwCandidate !== undefined) pickWritten(Number(key.dataset.hwCandidate));
    else if (key.dataset.key !== undefined) press(key.dataset.key);
  }

  function onFocusIn(event) {
    if (eligible(event.target)) open(event.target);
  }

  function onDocumentClick(event) {
    if (!state.root) return;
    // A tap on the still-focused input after "done" raises no focusin.
    if (eligible(event.target) && (state.root.hidden || state.input !== event.target)) {
      open(event.target);
    }
  }

  function onOutsidePointerDown(event) {
    if (!state.input || state.root.hidden) return;
    const target = event.target;
    if (state.root.contains(target) || target === state.input) return;
    // Another keyboard input: focusin switches to it; closing here would flicker.
    if (eligible(target)) return;
    close();
  }

  // -------------------------------------------------------------- actions

  function press(key) {
    switch (key) {
      case 'backspace':
        backspace();
        break;
      case 'clear':
        setComposition('');
        writeValue('', 0);
        break;
      case 'space':
        if (state.composition) pickFirst();
        else insertText(' ');
        break;
      case 'done': {
        const input = close();
        if (input) input.blur();
        break;
      }
      case 'mode':
        if (state.composition) commitLetters();
        state.mode = state.mode === 'zh' ? 'en' : 'zh';
        state.caps = false;
        render();
        break;
      case 'shift':
        state.caps = !state.caps;
        render();
        break;
      case 'symbols':
        state.page = 'symbols';
        render();
        break;
      case 'letters':
        state.page = 'letters';
        render();
        break;
      case 'provinces':
        state.page = 'provinces';
        render();
        break;
      case 'plate-letters':
        state.page = 'plate';
        render();
        break;
      case 'handwriting':
        if (state.composition) commitLetters();
        state.page = 'handwriting';
        render();
        break;
      case 'hw-undo':
        state.hw.strokes.pop();
        drawPad();
        recognize();
        break;
      case 'hw-clear':
        clearPad();
        drawPad();
        renderWritten();
        break;
      case 'compose':
        commitLetters();
        break;
      case 'candidates-more':
        pageCandidates(1);
        break;
      case 'candidates-prev':
        pageCandidates(-1);
        break;
      default:
        typeKey(key);
    }
  }

  function typeKey(value) {
    if (state.kind === 'digits' || state.kind === 'phone') {
      if (/^[0-9]$/.test(value)) insertText(value);
      return;
    }
    if (state.kind === 'plate' || state.kind === 'code') {
      insertText(value.toUpperCase());
      return;
    }
    const letter = /^[a-z]$/.test(value);
    if (letter && composing() && state.page === 'letters') {
      if (state.composition.length < COMPOSE_MAX) setComposition(state.composition + value);
      else flash();
      return;
    }
    if (state.composition) commitLetters();
    insertText(letter && state.caps ? value.toUpperCase() : value);
  }

  function backspace() {
    if (state.composition) {
      setComposition(state.composition.slice(0, -1));
      return;
    }
    const input = state.input;
    const value = input.value;
    const { start, end } = selection(input);
    if (start !== end) {
      writeValue(value.slice(0, start) + value.slice(end), start);
      return;
    }
    if (start === 0) return;
    let from = start - 1;
    // Never split a surrogate pair (a rare character outside the BMP).
    if (from > 0 && isLowSurrogate(value.charCodeAt(from)) && isHighSurrogate(value.charCodeAt(from - 1))) {
      from -= 1;
    }
    writeValue(value.slice(0, from) + value.slice(start), from);
  }

  function isHighSurrogate(code) {
    return code >= 0xd800 && code <= 0xdbff;
  }

  function isLowSurrogate(code) {
    return code >= 0xdc00 && code <= 0xdfff;
  }

  // ----------------------------------------------------------- the value

  /** Longest value allowed: the input's maxlength and the kind's own limit. */
  function maxLength() {
    const input = state.input;
    let max = input.maxLength >= 0 ? input.maxLength : Infinity;
    if (state.kind === 'phone') max = Math.min(max, PHONE_MAX);
    if (state.kind === 'plate') max = Math.min(max, PLATE_MAX);
    return max;
  }

  function selection(input) {
    const end = input.value.length;
    if (document.activeElement !== input) return { start: end, end };
    try {
      const s = input.selectionStart;
      const e = input.selectionEnd;
      if (typeof s === 'number' && typeof e === 'number') return { start: s, end: e };
    } catch (_) {
      // type=number and type=email have no selection API: type at the end.
    }
    return { start: end, end };
  }

  /**
   * Insert text at the caret. A piece that does not fit maxlength is refused
   * whole (a half-inserted word is worse than none), unless `partial` allows
   * keeping what fits.
   */
  function insertText(text, partial) {
    const input = state.input;
    if (!input) return false;
    const value = input.value;
    const { start, end } = selection(input);
    const room = maxLength() - (value.length - (end - start));
    let piece = text;
    if (piece.length > room) {
      if (!partial || room <= 0) {
        flash();
        return false;
      }
      piece = '';
      for (const ch of text) {
        if (piece.length + ch.length > room) break;
        piece += ch;
      }
    }
    writeValue(value.slice(0, start) + piece + value.slice(end), start + piece.length);
    return true;
  }

  /** Write through the native setter (so framework wrappers notice) and announce the edit. */
  function writeValue(value, caret) {
    const input = state.input;
    const proto = input instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    const setter = Object.getOwnPropertyDescriptor(proto, 'value').set;
    if (input.value !== value) {
      setter.call(input, value);
      input.dispatchEvent(new Event('input', { bubbles: true }));
    }
    try {
      if (document.activeElement === input) input.setSelectionRange(caret, caret);
    } catch (_) {
      // Inputs without a selection API keep the caret at the end anyway.
    }
    afterEdit();
  }

  function afterEdit() {
    if (state.kind !== 'plate') return;
    // The first character of a plate is a province, the rest letters and digits.
    const want = state.input.value ? 'plate' : 'provinces';
    if (state.page !== want) {
      state.page = want;
      render();
    }
  }

  function flash() {
    const input = state.input;
    if (!input) return;
    input.classList.remove('osk-full');
    // Reading offsetWidth restarts the CSS animation when it is already running.
    void input.offsetWidth;
    input.classList.add('osk-full');
    setTimeout(() => input.classList.remove('osk-full'), 600);
  }

  // --------------------------------------------------------- composition

  function setComposition(letters) {
    state.composition = letters;
    state.pageStarts = [0];
    state.pickFirstWhenReady = false;
    if (!letters) {
      clearTimeout(state.timer);
      state.fetchSeq += 1;
      state.candidates = [];
      state.candidatesFor = '';
    }
    if (!state.root) return;
    renderComposition();
    if (letters) scheduleLookup();
  }

  function commitLetters() {
    const letters = state.composition;
    setComposition('');
    if (letters) insertText(letters, true);
  }

  function pickFirst() {
    if (state.candidatesFor === state.composition) pick(0);
    // Space tapped before the list arrived: pick when it does.
    else state.pickFirstWhenReady = true;
  }

  function pick(index) {
    const candidate = state.candidates[index];
    if (!candidate) return;
    const letters = state.composition;
    // A list for other letters has other `consumed` counts: 深圳 offered for
    // "shenzh" consumes 6 letters, for "shenzhen" 8. Such a list is shown
    // disabled until the new one arrives; this guards the API path too.
    if (state.candidatesFor !== letters || candidate.consumed > letters.length) return;
    if (!insertText(candidate.text)) return;
    setComposition(letters.slice(candidate.consumed));
  }

  function renderComposition() {
    if (!state.root) return;
    // The bar stays while composing on the symbols page too, so its pinyin
    // can still be picked, and the keys do not jump when pages change.
    state.compose.hidden = !composing();
    state.composeText.textContent = state.composition;
    state.composeText.disabled = !state.composition;
    renderCandidates();
  }

  function scheduleLookup() {
    clearTimeout(state.timer);
    const seq = ++state.fetchSeq;
    const letters = state.composition;
    const cached = state.cache.get(letters);
    if (cached) {
      showCandidates(letters, cached);
      return;
    }
    state.root.dataset.ime = 'loading';
    state.timer = setTimeout(() => lookup(seq, letters), DEBOUNCE_MS);
  }

  async function lookup(seq, letters) {
    let found = [];
    try {
      const url = new URL(state.imeUrl, window.location.href);
      url.searchParams.set('q', letters);
      url.searchParams.set('limit', String(FETCH_LIMIT));
      const response = await fetch(url, {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
      if (!response.ok) throw new Error('IME lookup failed: ' + response.status);
      const body = await response.json();
      found = (body.candidates || []).filter(
        (c) => c && typeof c.text === 'string' && Number.isInteger(c.consumed) && c.consumed > 0,
      );
      remember(letters, found);
    } catch (error) {
      // Offline or server trouble: the letters can still be typed as they are.
      found = [];
    }
    if (seq === state.fetchSeq) showCandidates(letters, found);
  }

  function remember(letters, found) {
    state.cache.set(letters, found);
    if (state.cache.size > CACHE_SIZE) state.cache.delete(state.cache.keys().next().value);
  }

  function showCandidates(letters, found) {
    state.candidates = found;
    state.candidatesFor = letters;
    state.pageStarts = [0];
    // Which letters the shown list answers: scripts and tests can wait on it.
    state.root.dataset.imeFor = letters;
    state.root.dataset.ime = 'ready';
    renderCandidates();
    if (state.pickFirstWhenReady && letters === state.composition) {
      state.pickFirstWhenReady = false;
      pick(0);
    }
  }

  function pageCandidates(step) {
    if (step > 0 && state.nextStart < state.candidates.length) state.pageStarts.push(state.nextStart);
    if (step < 0 && state.pageStarts.length > 1) state.pageStarts.pop();
    renderCandidates();
  }

  /** Show as many candidates as fit on one line, starting at the current page. */
  function renderCandidates() {
    const row = state.candidateRow;
    if (!row) return;
    row.replaceChildren();
    const start = state.pageStarts[state.pageStarts.length - 1];
    const stale = state.candidatesFor !== state.composition;
    let shown = 0;
    if (state.composition && !state.compose.hidden) {
      for (let i = start; i < state.candidates.length; i += 1) {
        const node = button(null, state.candidates[i].text, 'osk-candidate');
        node.dataset.candidate = String(i);
        node.disabled = stale;
        row.append(node);
        if (shown > 0 && row.scrollWidth > row.clientWidth) {
          node.remove();
          break;
        }
        shown += 1;
      }
    }
    state.nextStart = start + shown;
    state.prevButton.disabled = state.pageStarts.length <= 1;
    state.moreButton.disabled = state.nextStart >= state.candidates.length;
  }

  // ----------------------------------------------------------- handwriting

  /** Tell the idle timer (kiosk.js) someone is using the keyboard. */
  function activity() {
    window.dispatchEvent(new CustomEvent('kiosk:activity'));
  }

  /** Ask once per page whether the pad works here, and for its labels in the page's language. */
  async function loadHandwritingStatus() {
    const hw = state.hw;
    if (hw.status || hw.loading) return;
    hw.loading = true;
    try {
      const response = await fetch(new URL(state.hwUrl + '/status', window.location.href), {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
      if (!response.ok) throw new Error('handwriting status ' + response.status);
      const body = await response.json();
      hw.status = { available: body.available === true, message: String(body.message || ''), labels: body.labels || {} };
    } catch (error) {
      // The server could not say: keep the pad, a stroke will tell.
      hw.status = { available: true, message: '', labels: {} };
    } finally {
      hw.loading = false;
    }
    const labels = hw.status.labels;
    for (const name of ['handwriting', 'pinyin', 'undo']) {
      if (typeof labels[name] === 'string' && labels[name]) state.labels[name] = labels[name];
    }
    if (typeof labels.hint === 'string') state.labels.hwHint = labels.hint;
    if (typeof labels.clear === 'string' && labels.clear) state.labels.hwClear = labels.clear;
    if (state.root && !state.root.hidden && state.kind === 'text') render();
  }

  function padAvailable() {
    return !state.hw.status || state.hw.status.available;
  }

  function renderPad() {
    const hw = state.hw;
    const available = padAvailable();
    const area = el('div', 'osk-hw');
    const box = el('div', 'osk-hw-box');
    const canvas = document.createElement('canvas');
    canvas.className = 'osk-hw-pad';
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', state.labels.hwHint || state.labels.handwriting);
    const hint = el('p', 'osk-hw-hint');
    hint.setAttribute('aria-live', 'polite');
    box.append(canvas, hint);
    const candidates = el('div', 'osk-hw-candidates');
    candidates.setAttribute('role', 'group');
    area.append(box, candidates);
    area.classList.toggle('osk-hw-off', !available);

    const row = el('div', 'osk-row');
    const specs = [
      fnKey('letters', state.labels.pinyin, 'osk-wide'),
      fnKey('hw-undo', state.labels.undo, 'osk-wide'),
      fnKey('hw-clear', state.labels.hwClear || state.labels.clear, 'osk-wide'),
      backspaceKey(),
      fnKey('done', state.labels.done, 'osk-wide osk-done'),
    ];
    for (const spec of specs) row.append(renderKey(spec));
    state.keys.replaceChildren(area, row);
    Object.assign(hw, { canvas, candidateBox: candidates, hint });
    for (const key of row.querySelectorAll('[data-key^="hw-"]')) key.disabled = !available;

    if (available) {
      canvas.addEventListener('pointerdown', onPadDown);
      canvas.addEventListener('pointermove', onPadMove);
      canvas.addEventListener('pointerup', onPadUp);
      canvas.addEventListener('pointercancel', onPadUp);
    }
    renderComposition();
    updateHeight();
    sizePad();
    renderWritten();
  }

  /** Match the canvas's pixels to its box (and the screen's density), then redraw. */
  function sizePad() {
    const canvas = state.hw.canvas;
    if (!canvas || !canvas.isConnected) return;
    const rect = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    state.hw.size = { width: Math.round(rect.width), height: Math.round(rect.height) };
    canvas.width = Math.max(1, Math.round(rect.width * ratio));
    canvas.height = Math.max(1, Math.round(rect.height * ratio));
    drawPad();
  }

  function padPoint(event) {
    const rect = state.hw.canvas.getBoundingClientRect();
    const { width, height } = state.hw.size;
    const x = Math.round(Math.min(Math.max(event.clientX - rect.left, 0), width));
    const y = Math.round(Math.min(Math.max(event.clientY - rect.top, 0), height));
    return [x, y];
  }

  function onPadDown(event) {
    const hw = state.hw;
    event.preventDefault();
    if (hw.drawing || hw.strokes.length >= HW_MAX_STROKES) return;
    try {
      hw.canvas.setPointerCapture(event.pointerId);
    } catch (_) {
      // A pointer the browser no longer tracks: the stroke still draws while it stays on the pad.
    }
    hw.drawing = { id: event.pointerId, points: [padPoint(event)] };
    hw.strokes.push(hw.drawing.points);
    drawPad();
  }

  function onPadMove(event) {
    const drawing = state.hw.drawing;
    if (!drawing || event.pointerId !== drawing.id) return;
    const points = drawing.points;
    const [x, y] = padPoint(event);
    const [lastX, lastY] = points[points.length - 1];
    if (Math.hypot(x - lastX, y - lastY) < HW_STEP || points.length >= HW_MAX_POINTS) return;
    points.push([x, y]);
    drawPad();
  }

  function onPadUp(event) {
    const hw = state.hw;
    const drawing = hw.drawing;
    if (!drawing || event.pointerId !== drawing.id) return;
    if (event.type === 'pointerup') drawing.points.push(padPoint(event));
    hw.drawing = null;
    activity();
    drawPad();
    recognize();
  }

  function drawPad() {
    const { canvas, strokes } = state.hw;
    if (!canvas || !canvas.isConnected) return;
    const context = canvas.getContext('2d');
    const ratio = canvas.width / Math.max(1, state.hw.size.width);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, state.hw.size.width, state.hw.size.height);
    context.lineWidth = Math.max(6, state.hw.size.width / 40);
    context.lineCap = 'round';
    context.lineJoin = 'round';
    context.strokeStyle = getComputedStyle(canvas).color;
    for (const points of strokes) {
      context.beginPath();
      context.moveTo(points[0][0], points[0][1]);
      for (const [x, y] of points.slice(1)) context.lineTo(x, y);
      if (points.length === 1) context.lineTo(points[0][0] + 0.1, points[0][1]);
      context.stroke();
    }
  }

  function clearPad() {
    const hw = state.hw;
    hw.strokes = [];
    hw.drawing = null;
    hw.candidates = [];
    hw.seq += 1;
    if (state.root) state.root.dataset.hw = 'empty';
  }

  async function recognize() {
    const hw = state.hw;
    const seq = ++hw.seq;
    const strokes = hw.strokes.filter((points) => points.length > 0);
    if (!strokes.length) {
      hw.candidates = [];
      state.root.dataset.hw = 'empty';
      renderWritten();
      return;
    }
    state.root.dataset.hw = 'loading';
    const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
    let found = [];
    let message = '';
    try {
      const response = await fetch(new URL(state.hwUrl + '/candidates', window.location.href), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ width: hw.size.width, height: hw.size.height, strokes, limit: HW_CANDIDATES }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        found = (body.candidates || []).filter((c) => c && typeof c.text === 'string' && c.text);
      } else {
        message = typeof body.error === 'string' ? body.error : '';
        if (body.available === false && hw.status) {
          hw.status.available = false;
          hw.status.message = message;
        }
      }
    } catch (error) {
      found = [];
    }
    if (seq !== hw.seq) return;
    hw.candidates = found;
    state.root.dataset.hw = 'ready';
    renderWritten(message);
    if (hw.status && !hw.status.available && state.page === 'handwriting') render();
  }

  /** The big candidate buttons beside the pad, and its hint or message. */
  function renderWritten(message) {
    const hw = state.hw;
    if (!hw.candidateBox || !hw.candidateBox.isConnected) return;
    const fragment = document.createDocumentFragment();
    hw.candidates.forEach((candidate, i) => {
      const node = button(null, candidate.text, 'osk-hw-candidate');
      node.dataset.hwCandidate = String(i);
      fragment.append(node);
    });
    hw.candidateBox.replaceChildren(fragment);
    const off = !padAvailable();
    hw.hint.textContent = off ? hw.status.message : message || (hw.strokes.length ? '' : state.labels.hwHint);
    hw.hint.hidden = !hw.hint.textContent;
  }

  function pickWritten(index) {
    const candidate = state.hw.candidates[index];
    if (!candidate || !insertText(candidate.text)) return;
    clearPad();
    drawPad();
    renderWritten();
  }

  // ------------------------------------------------------------------ API

  window.KioskOSK = Object.freeze({ open, close: () => void close(), reset });
  window.addEventListener('resize', () => {
    if (state.page === 'handwriting' && state.root && !state.root.hidden) sizePad();
  });

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
