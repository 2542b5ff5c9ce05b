// The likeness order page: order, upload straight to storage, watch, see,
// download, erase. No framework: one form, a poll loop and a gallery.
//
// Credentials: an order token (from the page's <meta>, put there by the
// server acting as the storefront, or from the #order_token=... fragment of
// the shop's link) orders one preview and is kept in memory only. The preview
// token that comes back reads and erases that one preview; it is kept in
// sessionStorage with the preview id so that a reload resumes. Nothing else is
// stored, and an API key never reaches this page.
'use strict';

(() => {
  const MAX_BYTES = 25 * 1024 * 1024;
  const TYPES = ['image/jpeg', 'image/png', 'image/webp'];
  const STORE = 'likeness.preview';
  const POLL_MS = 1000;
  // Headers a browser sets itself and refuses from scripts.
  const FORBIDDEN_HEADERS = new Set(['content-length', 'host', 'connection']);
  const STAGES = ['awaiting_upload', 'analyzing', 'rendering', 'judging', 'ready'];
  const STAGE_TEXT = {
    awaiting_upload: 'Uploading your photo…',
    analyzing: 'Checking your photo…',
    rendering: 'Painting your portraits…',
    judging: 'Checking each portrait for likeness…',
    ready: 'Your previews are ready.',
  };
  const SECTIONS = ['no-order', 'order', 'progress', 'rejected', 'failed', 'results', 'erased'];
  const SCORE_LABELS = {
    likeness: 'Likeness',
    colour: 'Colour',
    composition: 'Framing',
    style: 'Style',
    artifacts: 'Flaws',
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    orderToken: null,
    file: null,
    photoUrl: null,
    styles: new Map(),
    preview: null, // {id, token, uploaded}
    lastStatus: null,
    timer: null,
    rendered: false,
  };
  let words = {};

  function apiUrl(path) {
    const meta = document.querySelector('meta[name="likeness-api"]');
    return new URL(path, meta ? meta.content : location.origin + '/').toString();
  }

  function show(...ids) {
    for (const id of SECTIONS) $(id).hidden = !ids.includes(id);
  }

  function focusHeading(sectionId) {
    const heading = $(sectionId).querySelector('h2');
    if (heading) heading.focus();
  }

  function save() {
    if (state.preview) sessionStorage.setItem(STORE, JSON.stringify(state.preview));
    else sessionStorage.removeItem(STORE);
  }

  function loadSaved() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE) || 'null');
      if (saved && typeof saved.id === 'string' && typeof saved.token === 'string') return saved;
    } catch (_) {
      // A damaged entry is as good as none.
    }
    sessionStorage.removeItem(STORE);
    return null;
  }

  // The order token: the shop link's #order_token=..., else the <meta> the
  // server puts in when it plays the storefront. The fragment is removed from
  // the address bar at once so the token stays out of history and bookmarks.
  function takeOrderToken() {
    const fromLink = new URLSearchParams(location.hash.slice(1)).get('order_token');
    if (location.hash) history.replaceState(null, '', location.pathname + location.search);
    if (fromLink) return fromLink;
    const meta = document.querySelector('meta[name="likeness-order-token"]');
    return meta && meta.content ? meta.content : null;
  }

  async function errorMessage(response, fallback) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch (_) {
      // Not our JSON error body: say it plainly.
    }
    return fallback;
  }

  function word(kind, value) {
    const bands = words[kind];
    if (!Array.isArray(bands) || typeof value !== 'number') return null;
    for (const [min, text] of bands) if (value >= min) return text;
    return bands.length ? bands[bands.length - 1][1] : null;
  }

  function humanBytes(n) {
    if (n >= 1024 * 1024) return (n / (1024 * 1024)).toFixed(1) + ' MB';
    return Math.max(1, Math.round(n / 1024)) + ' KB';
  }

  // ---- the order form ----------------------------------------------------

  async function loadStyles() {
    const box = $('styles');
    try {
      const response = await fetch(apiUrl('v1/styles'));
      if (!response.ok) throw new Error(String(response.status));
      const styles = await response.json();
      box.replaceChildren();
      for (const style of styles) {
        state.styles.set(style.id, style);
        const label = document.createElement('label');
        label.className = 'style';
        const input = document.createElement('input');
        input.type = 'checkbox';
        input.name = 'style';
        input.value = style.id;
        const img = document.createElement('img');
        img.src = apiUrl(style.thumbnail_url.replace(/^\//, ''));
        img.alt = '';
        img.width = 128;
        img.height = 128;
        img.loading = 'lazy';
        const name = document.createElement('span');
        name.className = 'style-name';
        name.textContent = style.name;
        const description = document.createElement('span');
        description.className = 'style-description';
        description.textContent = style.description;
        label.append(input, img, name, description);
        box.append(label);
      }
      $('styles-loading').hidden = true;
    } catch (_) {
      $('styles-loading').textContent = 'The styles could not be loaded. Reload the page to try again.';
    }
  }

  function photoProblem(file) {
    if (!TYPES.includes(file.type)) {
      return `“${file.name}” is not a JPEG, PNG or WebP photo. Choose a photo in one of those formats.`;
    }
    if (file.size === 0) return `“${file.name}” is empty. Choose another photo.`;
    if (file.size > MAX_BYTES) {
      return `“${file.name}” is ${humanBytes(file.size)}; photos may be at most 25 MB. Choose a smaller photo.`;
    }
    return null;
  }

  function choosePhoto(file) {
    const problem = photoProblem(file);
    const preview = $('photo-preview');
    if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
    state.photoUrl = null;
    if (problem) {
      state.file = null;
      preview.hidden = true;
      $('photo-name').textContent = '';
      formError(problem, $('photo'));
      return;
    }
    state.file = file;
    clearFormError();
    state.photoUrl = URL.createObjectURL(file);
    preview.src = state.photoUrl;
    preview.alt = 'The photo you chose';
    preview.hidden = false;
    $('photo-name').textContent = `${file.name}, ${humanBytes(file.size)}`;
  }

  function formError(message, focusTarget) {
    const box = $('form-error');
    box.textContent = message;
    box.hidden = false;
    (focusTarget || box).focus();
  }

  function clearFormError() {
    $('form-error').hidden = true;
    $('form-error').textContent = '';
  }

  function wireForm() {
    $('photo').addEventListener('change', (e) => {
      if (e.target.files && e.target.files[0]) choosePhoto(e.target.files[0]);
    });
    const drop = $('drop');
    for (const kind of ['dragenter', 'dragover']) {
      drop.addEventListener(kind, (e) => {
        e.preventDefault();
        drop.classList.add('over');
      });
    }
    for (const kind of ['dragleave', 'drop']) {
      drop.addEventListener(kind, () => drop.classList.remove('over'));
    }
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      const file = e.dataTransfer && e.dataTransfer.files[0];
      if (file) choosePhoto(file);
    });
    // A problem once reported is cleared as soon as the customer changes anything.
    // (The photo input reports its own problems, so it is left out.)
    $('order').addEventListener('change', (e) => {
      if (e.target.id !== 'photo' && !$('form-error').hidden) clearFormError();
    });
    $('order').addEventListener('submit', (e) => {
      e.preventDefault();
      submit();
    });
  }

  async function submit() {
    clearFormError();
    const styles = [...document.querySelectorAll('input[name="style"]:checked')].map((i) => i.value);
    const subject = document.querySelector('input[name="subject"]:checked').value;
    if (!styles.length) return formError('Choose at least one style.', document.querySelector('input[name="style"]'));
    if (!state.file) return formError('Choose a photo first.', $('photo'));
    if (!$('consent').checked) {
      return formError('Please confirm that you may use this photo.', $('consent'));
    }
    if (!state.orderToken) {
      return formError('This order link was already used. Start a new order from the shop.');
    }
    const button = $('submit');
    button.disabled = true;
    button.textContent = 'Creating your preview…';
    let created;
    try {
      const response = await fetch(apiUrl('v1/previews'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${state.orderToken}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          subject,
          styles,
          content_type: state.file.type,
          content_length: state.file.size,
          consent: { rights_to_photo: true },
        }),
      });
      if (!response.ok) {
        if (response.status === 401 || response.status === 409) {
          state.orderToken = null;
          $('new-order').hidden = false;
          $('actions').hidden = false;
        }
        throw new Error(await errorMessage(response, 'The order could not be placed. Please try again.'));
      }
      created = await response.json();
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Create my preview';
      return formError(err instanceof TypeError ? 'The order could not be sent. Check your connection and try again.' : err.message);
    }
    // One order per token: it is spent now.
    state.orderToken = null;
    state.preview = { id: created.id, token: created.preview_token, uploaded: false };
    save();
    show('progress');
    $('actions').hidden = false;
    $('erase').hidden = false;
    focusHeading('progress');
    setStage('awaiting_upload');
    try {
      await upload(state.file, created.upload);
    } catch (err) {
      $('status').textContent = err.message;
      $('new-order').hidden = false;
      return;
    }
    state.preview.uploaded = true;
    save();
    $('status').textContent = 'Photo uploaded. Checking it now…';
    poll();
  }

  function setUploadProgress(percent) {
    const value = Math.min(100, Math.round(percent));
    $('upload-bar').value = value;
    $('upload-percent').textContent = `${value} %`;
  }

  // Straight to the presigned URL on the object store, with its signed
  // headers; XHR because fetch() reports no upload progress.
  function upload(file, target) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(target.method || 'PUT', target.url);
      for (const [name, value] of Object.entries(target.headers || {})) {
        if (!FORBIDDEN_HEADERS.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
      }
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable) setUploadProgress((e.loaded / e.total) * 100);
      });
      xhr.addEventListener('load', () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          setUploadProgress(100);
          resolve();
        } else {
          reject(new Error('The upload was refused. Start a new order and try again.'));
        }
      });
      xhr.addEventListener('error', () => reject(new Error('The upload did not get through. Check your connection and start a new order.')));
      xhr.send(file);
    });
  }

  // ---- status ------------------------------------------------------------

  function setStage(status) {
    const at = STAGES.indexOf(status);
    for (const li of $('stages').children) {
      const i = STAGES.indexOf(li.dataset.stage);
      li.classList.toggle('done', i < at || status === 'ready');
      li.classList.toggle('current', i === at && status !== 'ready');
      if (i === at && status !== 'ready') li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    }
    if (status !== state.lastStatus && STAGE_TEXT[status]) $('status').textContent = STAGE_TEXT[status];
    state.lastStatus = status;
  }

  async function fetchPreview() {
    const { id, token } = state.preview;
    return fetch(apiUrl(`v1/previews/${encodeURIComponent(id)}`), {
      headers: { Authorization: `Bearer ${token}` },
      cache: 'no-store',
    });
  }

  async function poll() {
    clearTimeout(state.timer);
    if (!state.preview) return;
    let response;
    try {
      response = await fetchPreview();
    } catch (_) {
      $('status').textContent = 'Connection lost. Trying again…';
      state.timer = setTimeout(poll, POLL_MS * 3);
      return;
    }
    if (response.status === 401 || response.status === 404) {
      state.preview = null;
      save();
      return showFailure('This preview is no longer available: its link has expired or it was erased.');
    }
    if (!response.ok) {
      state.timer = setTimeout(poll, POLL_MS * 3);
      return;
    }
    const preview = await response.json();
    render(preview);
    if (['awaiting_upload', 'analyzing', 'rendering', 'judging'].includes(preview.status)) {
      state.timer = setTimeout(poll, POLL_MS);
    }
  }

  function render(preview) {
    switch (preview.status) {
      case 'awaiting_upload':
        if (!state.preview.uploaded && !state.file) {
          // A reload during the upload: the photo is gone with the old page.
          show('failed');
          $('failure').textContent = 'The upload did not finish. Start a new order to try again.';
          $('new-order').hidden = false;
          focusHeading('failed');
          clearTimeout(state.timer);
          state.timer = null;
          return;
        }
        show('progress');
        setStage('awaiting_upload');
        if (state.preview.uploaded) setUploadProgress(100);
        break;
      case 'analyzing':
      case 'rendering':
      case 'judging':
        show('progress');
        setUploadProgress(100);
        setStage(preview.status);
        break;
      case 'ready':
        setStage('ready');
        if (!state.rendered) showResults(preview);
        break;
      case 'rejected':
        showRejected(preview);
        break;
      case 'failed':
        showFailure(preview.failure || 'Your preview could not be made. Please start a new order.');
        break;
      case 'erased':
        showErased();
        break;
      case 'expired':
        state.preview = null;
        save();
        showFailure('These previews have expired and were deleted.');
        break;
      default:
        $('status').textContent = `Status: ${preview.status}`;
    }
    $('actions').hidden = false;
    $('erase').hidden = !state.preview;
    $('new-order').hidden = ['analyzing', 'rendering', 'judging', 'awaiting_upload'].includes(preview.status) && !!state.preview;
  }

  function showRejected(preview) {
    const list = $('reasons');
    list.replaceChildren();
    for (const reason of preview.rejection_reasons || []) {
      const li = document.createElement('li');
      li.dataset.code = reason.code;
      li.textContent = reason.message;
      list.append(li);
    }
    show('rejected');
    focusHeading('rejected');
  }

  function showFailure(message) {
    $('failure').textContent = message;
    show('failed');
    $('actions').hidden = false;
    $('new-order').hidden = false;
    $('erase').hidden = !state.preview;
    focusHeading('failed');
  }

  function showErased() {
    clearTimeout(state.timer);
    state.preview = null;
    save();
    $('gallery').replaceChildren();
    show('erased');
    $('erase').hidden = true;
    $('new-order').hidden = false;
    $('actions').hidden = false;
    focusHeading('erased');
  }

  // ---- results -------------------------------------------------------------

  async function ensureStyleNames() {
    if (state.styles.size) return;
    try {
      const response = await fetch(apiUrl('v1/styles'));
      if (response.ok) for (const s of await response.json()) state.styles.set(s.id, s);
    } catch (_) {
      // Ids stand in for names.
    }
  }

  async function showResults(preview) {
    state.rendered = true;
    await ensureStyleNames();
    const gallery = $('gallery');
    gallery.replaceChildren(...(preview.results || []).map(styleSection));
    if (preview.expires_at) {
      const when = new Date(preview.expires_at);
      $('results-expiry').textContent = `Kept until ${when.toLocaleDateString(undefined, { dateStyle: 'long' })}, unless you erase them first.`;
    }
    show('results');
    $('status').textContent = STAGE_TEXT.ready;
    focusHeading('results');
  }

  function styleSection(result) {
    const section = document.createElement('section');
    section.className = 'style-result';
    const name = (state.styles.get(result.style) || {}).name || result.style;
    const h3 = document.createElement('h3');
    h3.textContent = name;
    section.append(h3);
    if (!result.previews || !result.previews.length) {
      const p = document.createElement('p');
      p.textContent = 'No portrait in this style met our quality bar, so none is shown.';
      section.append(p);
      return section;
    }
    const row = document.createElement('div');
    row.className = 'portraits';
    for (const portrait of result.previews) row.append(figure(result.style, name, portrait));
    section.append(row);
    return section;
  }

  function figure(styleId, styleName, portrait) {
    const fig = document.createElement('figure');
    fig.className = 'portrait' + (portrait.flagged ? ' flagged' : '');
    const jpeg = portrait.images.find((i) => i.format === 'jpeg') || portrait.images[0];
    const webp = portrait.images.find((i) => i.format === 'webp');
    const picture = document.createElement('picture');
    if (webp && jpeg !== webp) {
      const source = document.createElement('source');
      source.type = 'image/webp';
      source.srcset = webp.url;
      picture.append(source);
    }
    const img = document.createElement('img');
    img.src = jpeg.url;
    img.alt = `${styleName} portrait, variation ${portrait.index}`;
    img.decoding = 'async';
    picture.append(img);
    fig.append(picture);

    const caption = document.createElement('figcaption');
    const title = document.createElement('p');
    title.className = 'portrait-title';
    // A flagged portrait's overall words would contradict its flag.
    const overall = portrait.flagged ? null : word('overall', portrait.overall);
    title.textContent = `Variation ${portrait.index}` + (overall ? ` · ${overall}` : '');
    caption.append(title);
    if (portrait.flagged) {
      const flag = document.createElement('p');
      flag.className = 'flag';
      flag.textContent = 'Below our quality bar: the best we could make in this style.';
      caption.append(flag);
    }
    const list = document.createElement('ul');
    list.className = 'scores';
    for (const [kind, label] of Object.entries(SCORE_LABELS)) {
      const text = word(kind, (portrait.scores || {})[kind]);
      if (!text) continue;
      const li = document.createElement('li');
      li.dataset.score = kind;
      li.textContent = text;
      li.title = label;
      list.append(li);
    }
    caption.append(list);
    const downloads = document.createElement('p');
    downloads.className = 'downloads';
    for (const image of portrait.images) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'button secondary small';
      button.dataset.format = image.format;
      button.textContent = `Download ${image.format.toUpperCase()} (${humanBytes(image.bytes)})`;
      button.setAttribute('aria-label', `Download ${styleName} variation ${portrait.index} as ${image.format.toUpperCase()}, ${humanBytes(image.bytes)}`);
      button.addEventListener('click', () => download(button, styleId, portrait.index, image));
      downloads.append(button);
    }
    caption.append(downloads);
    fig.append(caption);
    return fig;
  }

  // Fetch the image (the object store allows the page's origin) and save it;
  // a URL that expired while the page stood open is fetched anew.
  async function download(button, styleId, index, image) {
    button.disabled = true;
    try {
      let response = await fetch(image.url);
      if (!response.ok && state.preview) {
        const fresh = await (await fetchPreview()).json();
        const again = (fresh.results || [])
          .filter((r) => r.style === styleId)
          .flatMap((r) => r.previews)
          .filter((p) => p.index === index)
          .flatMap((p) => p.images)
          .find((i) => i.format === image.format);
        if (again) response = await fetch(again.url);
      }
      if (!response.ok) throw new Error(String(response.status));
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `${styleId}-${index}.${image.format === 'jpeg' ? 'jpg' : image.format}`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (_) {
      $('status').textContent = 'The download failed. Please try again.';
    } finally {
      button.disabled = false;
    }
  }

  // ---- erase and start over ---------------------------------------------------

  async function erase() {
    if (!state.preview) return;
    if (!window.confirm('Erase your photo and all its previews now? This cannot be undone.')) return;
    const button = $('erase');
    button.disabled = true;
    try {
      const response = await fetch(apiUrl(`v1/previews/${encodeURIComponent(state.preview.id)}`), {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${state.preview.token}` },
      });
      if (!response.ok) throw new Error(await errorMessage(response, 'Erasing failed. Please try again.'));
      showErased();
    } catch (err) {
      $('status').textContent = err instanceof TypeError ? 'Erasing failed: check your connection and try again.' : err.message;
      // The status line is in the progress card; say it where the reader is too.
      window.alert($('status').textContent);
    } finally {
      button.disabled = false;
    }
  }

  function newOrder() {
    clearTimeout(state.timer);
    state.preview = null;
    save();
    // On `likeness serve` a fresh load of the page carries a fresh order token.
    location.assign(location.pathname);
  }

  function init() {
    try {
      words = JSON.parse(($('score-words') || {}).textContent || '{}');
    } catch (_) {
      words = {};
    }
    $('erase').addEventListener('click', erase);
    $('new-order').addEventListener('click', newOrder);
    wireForm();
    state.orderToken = takeOrderToken();
    const saved = loadSaved();
    if (saved) {
      state.preview = saved;
      show('progress');
      $('actions').hidden = false;
      $('erase').hidden = false;
      poll();
    } else if (state.orderToken) {
      show('order');
      loadStyles();
    } else {
      show('no-order');
      focusHeading('no-order');
    }
  }

  init();
})();
