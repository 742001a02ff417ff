// aistpp view: the page's script. THREE (three.js + OrbitControls) is defined just before this.
// World: centimetres, +y up, the floor at DATA.floor_y (scene.py: floor_height); cameras: OpenCV (x right, y down, z forward), X_cam = R X + t.
// Frames: frame i is at i / 60 s; the clock is the wall clock (times the speed), the music follows it.
"use strict";

const DATA = JSON.parse(document.getElementById("aistpp-data").textContent);
const FPS = DATA.fps;
const TYPES = { i1: Int8Array, u1: Uint8Array, i2: Int16Array, u2: Uint16Array, u4: Uint32Array, f4: Float32Array };
const MISSING = -32768;
const COLORS = {
  anno: { side: [0xffd21f, 0x1fa0ff, 0xff4a2a], mesh: 0x9db7d6 },
  compare: { side: [0xf0f0f0, 0x4fe08a, 0xe070ff], mesh: 0xe0b48c },
};

// ---- decoding (pack.py) ------------------------------------------------------------------
async function unpack(p) {
  const bin = atob(p.b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  const buf = await new Response(stream).arrayBuffer();
  return new TYPES[p.dtype](buf);
}

async function readQuantised(q) {
  const codes = await unpack(q.codes);
  const c = q.origin.length, out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = codes[i] === MISSING ? NaN : q.origin[i % c] + q.step * codes[i];
  return out;
}

function heat(v) { // 0..1 -> green, yellow, red
  const c = new THREE.Color();
  c.setHSL((1 - Math.min(Math.max(v, 0), 1)) / 3, 0.9, 0.5);
  return c;
}

// ---- the scene ---------------------------------------------------------------------------
const canvas = document.getElementById("canvas");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio || 1);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x1e2226);
const camera = new THREE.PerspectiveCamera(45, 1, 5, 50000);
const controls = new THREE.OrbitControls(camera, canvas);
scene.add(new THREE.HemisphereLight(0xffffff, 0x404050, 2.0));
const sun = new THREE.DirectionalLight(0xffffff, 1.5);
sun.position.set(300, 800, 500);
scene.add(sun);

const state = { frame: 0, playing: false, speed: 1, t0: 0, wall0: 0, through: null, tracks: [], pairs: [],
  cameraGroups: [], show: { skeleton: true, mesh: true, cameras: true, tracks: [] } };

function addFloor(xmin, xmax) {
  const size = Math.max(1000, xmax - xmin + 800);
  const grid = new THREE.GridHelper(size, Math.round(size / 50), 0x5a6470, 0x3a424a);
  grid.position.set((xmin + xmax) / 2, DATA.floor_y, 0);
  scene.add(grid);
  const plane = new THREE.Mesh(new THREE.PlaneGeometry(size, size),
    new THREE.MeshStandardMaterial({ color: 0x2b3036, roughness: 1 }));
  plane.rotation.x = -Math.PI / 2;
  plane.position.set((xmin + xmax) / 2, DATA.floor_y - 0.5, 0);
  scene.add(plane);
}

function label(text, color) {
  const c = document.createElement("canvas");
  c.width = 128; c.height = 40;
  const g = c.getContext("2d");
  g.font = "bold 26px sans-serif"; g.fillStyle = color; g.textAlign = "center"; g.textBaseline = "middle";
  g.fillText(text, 64, 20);
  const sprite = new THREE.Sprite(new THREE.SpriteMaterial({ map: new THREE.CanvasTexture(c), depthTest: false }));
  sprite.scale.set(48, 15, 1);
  return sprite;
}

function cameraCentre(cam) { // C = -R^T t
  const R = cam.R, t = cam.t;
  return new THREE.Vector3(
    -(R[0][0] * t[0] + R[1][0] * t[1] + R[2][0] * t[2]),
    -(R[0][1] * t[0] + R[1][1] * t[1] + R[2][1] * t[2]),
    -(R[0][2] * t[0] + R[1][2] * t[1] + R[2][2] * t[2]));
}

function addCameras(setting) {
  const group = new THREE.Group();
  group.position.fromArray(setting.offset);
  const lines = [];
  const depth = 60;
  for (const cam of setting.cameras) {
    const C = cameraCentre(cam), K = cam.K, R = cam.R, [w, h] = cam.size;
    const corners = [[0, 0], [w, 0], [w, h], [0, h]].map(([u, v]) => {
      const x = (u - K[0][2]) / K[0][0] * depth, y = (v - K[1][2]) / K[1][1] * depth, z = depth;
      return new THREE.Vector3(R[0][0] * x + R[1][0] * y + R[2][0] * z, R[0][1] * x + R[1][1] * y + R[2][1] * z,
        R[0][2] * x + R[1][2] * y + R[2][2] * z).add(C);
    });
    for (let i = 0; i < 4; i++) lines.push(C, corners[i], corners[i], corners[(i + 1) % 4]);
    const l = label(cam.name, "#ffe28a");
    l.position.copy(C).add(new THREE.Vector3(0, 18, 0));
    group.add(l);
    const opt = document.createElement("option");
    opt.value = `${state.cameraGroups.length}:${cam.name}`;
    opt.textContent = `${setting.setting} ${cam.name}`;
    document.getElementById("through").appendChild(opt);
  }
  group.add(new THREE.LineSegments(new THREE.BufferGeometry().setFromPoints(lines),
    new THREE.LineBasicMaterial({ color: 0xffe28a })));
  scene.add(group);
  state.cameraGroups.push({ group, setting });
}

async function addTrack(t, faces) {
  const group = new THREE.Group();
  group.position.fromArray(t.offset);
  scene.add(group);
  const colors = COLORS[t.source] || COLORS.anno;
  const track = { data: t, group, frames: t.frames };
  if (t.skeleton) {
    const s = t.skeleton;
    track.points = await readQuantised(s.points);
    track.J = s.sides.length;
    track.bones = s.bones;
    const joints = new THREE.InstancedMesh(new THREE.SphereGeometry(3.2, 12, 8),
      new THREE.MeshStandardMaterial({ color: 0xffffff, roughness: 0.6 }), track.J);
    const sideColor = s.sides.map((k) => new THREE.Color(colors.side[k]));
    for (let j = 0; j < track.J; j++) joints.setColorAt(j, sideColor[j]);
    const bones = new THREE.InstancedMesh(new THREE.CylinderGeometry(1.3, 1.3, 1, 8, 1),
      new THREE.MeshStandardMaterial({ color: 0xffffff, roughness: 0.6 }), Math.max(1, s.bones.length));
    s.bone_sides.forEach((k, b) => bones.setColorAt(b, new THREE.Color(colors.side[k])));
    if (!s.bones.length) bones.count = 0;
    joints.frustumCulled = false; bones.frustumCulled = false;
    group.add(joints, bones);
    track.jointMesh = joints; track.boneMesh = bones; track.sideColor = sideColor;
    if (t.joint_values) track.values = await unpack(t.joint_values.codes);
  }
  if (t.mesh) {
    const m = t.mesh;
    track.mesh = {
      rest: await readQuantised(m.rest), ids: await unpack(m.bone_ids), weights: await unpack(m.weights),
      quats: await unpack(m.quaternions), offsets: await readQuantised(m.offsets), scale: m.scale, frames: m.frames,
    };
    track.mesh.V = track.mesh.rest.length / 3;
    track.mesh.K = m.correctives;
    if (m.correctives) { // pose correctives: components (K, V*3) and coefficients (N, K), dequantised
      const codes = await unpack(m.corrective_codes), D = track.mesh.rest.length;
      track.mesh.comps = Float32Array.from(codes, (c, i) => c * m.corrective_step[Math.floor(i / D)]);
      track.mesh.coeffs = Float32Array.from(await unpack(m.coeff_codes), (c, i) => c * m.coeff_step[i % m.correctives]);
      track.mesh.posed = new Float32Array(D);
    }
    track.mesh.B = track.mesh.quats.length / 4 / m.frames;
    const geom = new THREE.BufferGeometry();
    geom.setAttribute("position", new THREE.BufferAttribute(new Float32Array(track.mesh.rest.length), 3));
    geom.setIndex(new THREE.BufferAttribute(faces, 1));
    const mat = new THREE.MeshStandardMaterial({ color: colors.mesh, roughness: 0.7, transparent: true, opacity: 0.55,
      side: THREE.DoubleSide, depthWrite: false });
    const mesh = new THREE.Mesh(geom, mat);
    mesh.frustumCulled = false;
    group.add(mesh);
    track.meshObject = mesh;
  }
  state.tracks.push(track);
  return track;
}

// ---- per frame ---------------------------------------------------------------------------
const _m = new THREE.Matrix4(), _q = new THREE.Quaternion(), _s = new THREE.Vector3(), _a = new THREE.Vector3(),
  _b = new THREE.Vector3(), _up = new THREE.Vector3(0, 1, 0);

function skinFrame(m, n, out) { // mesh.py: world_v = sum_k w * (s * R_b @ rest_v + p_b), rest_v with correctives
  const B = m.B, M = new Float32Array(B * 12);
  for (let b = 0; b < B; b++) {
    const o = (n * B + b) * 4;
    let x = m.quats[o] / 32767, y = m.quats[o + 1] / 32767, z = m.quats[o + 2] / 32767, w = m.quats[o + 3] / 32767;
    const len = Math.hypot(x, y, z, w) || 1; x /= len; y /= len; z /= len; w /= len;
    const s = m.scale, r = M.subarray(b * 12, b * 12 + 12), p = (n * B + b) * 3;
    r[0] = s * (1 - 2 * (y * y + z * z)); r[1] = s * 2 * (x * y - z * w); r[2] = s * 2 * (x * z + y * w); r[3] = m.offsets[p];
    r[4] = s * 2 * (x * y + z * w); r[5] = s * (1 - 2 * (x * x + z * z)); r[6] = s * 2 * (y * z - x * w); r[7] = m.offsets[p + 1];
    r[8] = s * 2 * (x * z - y * w); r[9] = s * 2 * (y * z + x * w); r[10] = s * (1 - 2 * (x * x + y * y)); r[11] = m.offsets[p + 2];
  }
  let rest = m.rest;
  const ids = m.ids, wt = m.weights;
  if (m.K) { // rest_v + sum_c coeff[n, c] * corrective[c, v]
    const D = rest.length, posed = m.posed;
    posed.set(rest);
    for (let c = 0; c < m.K; c++) {
      const a = m.coeffs[n * m.K + c], comp = m.comps.subarray(c * D, (c + 1) * D);
      for (let i = 0; i < D; i++) posed[i] += a * comp[i];
    }
    rest = posed;
  }
  for (let v = 0; v < m.V; v++) {
    const x = rest[3 * v], y = rest[3 * v + 1], z = rest[3 * v + 2];
    let ox = 0, oy = 0, oz = 0;
    for (let k = 0; k < 4; k++) {
      const w = wt[4 * v + k] / 255;
      if (w === 0) continue;
      const r = ids[4 * v + k] * 12;
      ox += w * (M[r] * x + M[r + 1] * y + M[r + 2] * z + M[r + 3]);
      oy += w * (M[r + 4] * x + M[r + 5] * y + M[r + 6] * z + M[r + 7]);
      oz += w * (M[r + 8] * x + M[r + 9] * y + M[r + 10] * z + M[r + 11]);
    }
    out[3 * v] = ox; out[3 * v + 1] = oy; out[3 * v + 2] = oz;
  }
}

function showFrame(track, n) {
  track.group.visible = state.show.tracks[state.tracks.indexOf(track)] !== false;
  const inside = n < track.frames;
  if (track.jointMesh) {
    const J = track.J, P = track.points, ok = inside && n * J < P.length / 3;
    const visible = state.show.skeleton && ok;
    track.jointMesh.visible = visible; track.boneMesh.visible = visible;
    if (visible) {
      const at = (j) => [P[(n * J + j) * 3], P[(n * J + j) * 3 + 1], P[(n * J + j) * 3 + 2]];
      for (let j = 0; j < J; j++) {
        const p = at(j), fin = p.every(Number.isFinite);
        _m.compose(_a.set(fin ? p[0] : 0, fin ? p[1] : -1e5, fin ? p[2] : 0), _q.identity(), _s.set(1, 1, 1));
        track.jointMesh.setMatrixAt(j, _m);
        if (track.values) {
          const v = track.values[n * J + j];
          const bad = track.data.joint_values.good === "high" ? 1 - v / 254 : v / 254;
          track.jointMesh.setColorAt(j, v === 255 ? new THREE.Color(0x808080) : heat(bad));
        }
      }
      track.bones.forEach(([i, j], b) => {
        const p = at(i), q = at(j);
        if (!p.every(Number.isFinite) || !q.every(Number.isFinite)) {
          _m.makeScale(0, 0, 0);
        } else {
          _a.fromArray(p); _b.fromArray(q);
          const len = _a.distanceTo(_b);
          _q.setFromUnitVectors(_up, _b.clone().sub(_a).normalize());
          _m.compose(_a.clone().add(_b).multiplyScalar(0.5), _q, _s.set(1, len, 1));
        }
        track.boneMesh.setMatrixAt(b, _m);
      });
      track.jointMesh.instanceMatrix.needsUpdate = true;
      if (track.jointMesh.instanceColor) track.jointMesh.instanceColor.needsUpdate = true;
      track.boneMesh.instanceMatrix.needsUpdate = true;
    }
  }
  if (track.meshObject) {
    const visible = state.show.mesh && n < track.mesh.frames;
    track.meshObject.visible = visible;
    if (visible) {
      const pos = track.meshObject.geometry.attributes.position;
      skinFrame(track.mesh, n, pos.array);
      pos.needsUpdate = true;
      track.meshObject.geometry.computeVertexNormals();
    }
    track.meshObject.material.opacity = state.show.skeleton && track.jointMesh ? 0.55 : 0.9;
  }
}

// ---- timeline ----------------------------------------------------------------------------
const frameLabel = document.getElementById("frame"), slider = document.getElementById("slider");
const playButton = document.getElementById("play"), audio = document.getElementById("music");
const errorLabel = document.getElementById("error"), plot = document.getElementById("plot");
const musicOffset = DATA.music ? DATA.music.offset_s : 0; // audio time of the first frame shown

function setFrame(n) {
  n = Math.max(0, Math.min(DATA.frames - 1, Math.floor(n)));
  state.frame = n;
  for (const t of state.tracks) showFrame(t, n);
  slider.value = String(n);
  const f = DATA.start + n; // the sequence's own frame number (--start shifts it)
  frameLabel.textContent = `frame ${f} / ${DATA.start + DATA.frames - 1} · ${(f / FPS).toFixed(3)} s`;
  const parts = state.pairs.map((p) => {
    const e = p.error[n];
    return `${state.tracks[p.a].data.sequence}: ${Number.isFinite(e) ? e.toFixed(2) : "–"} cm (mean ${p.mean.toFixed(2)})`;
  });
  errorLabel.textContent = parts.length ? "joint error " + parts.join(", ") : "";
  drawPlot();
}

function clockFrame() {
  return Math.floor((state.t0 + (performance.now() - state.wall0) / 1000 * state.speed) * FPS + 1e-6);
}

function play() {
  if (state.playing) return;
  if (state.frame >= DATA.frames - 1) setFrame(0);
  state.playing = true;
  state.t0 = state.frame / FPS; state.wall0 = performance.now();
  playButton.innerHTML = "&#10074;&#10074;";
  if (audio.src) {
    audio.currentTime = state.t0 + musicOffset; audio.playbackRate = state.speed;
    const started = audio.play();
    if (started) started.catch(() => { document.getElementById("status").textContent = "click play for sound"; });
  }
}

function pause() {
  state.playing = false;
  playButton.innerHTML = "&#9654;";
  if (audio.src) audio.pause();
}

function syncAudio() { // the music follows the frame clock (seek when it drifts by more than 50 ms)
  if (!audio.src || !state.playing || audio.paused) return;
  const t = state.frame / FPS + musicOffset;
  if (t >= audio.duration) return;
  if (Math.abs(audio.currentTime - t) > 0.05) audio.currentTime = t;
}

function drawPlot() {
  const g = plot.getContext("2d"), w = plot.width, h = plot.height;
  g.clearRect(0, 0, w, h);
  if (!state.pairs.length) { plot.style.display = "none"; return; }
  const colors = ["#4fe08a", "#e070ff", "#ffd21f", "#1fa0ff"];
  state.pairs.forEach((p, i) => {
    g.strokeStyle = colors[i % colors.length]; g.beginPath();
    for (let x = 0; x < w; x++) {
      const e = p.error[Math.floor(x / w * p.error.length)], y = h - 1 - (h - 2) * Math.min(1, (e || 0) / p.max);
      if (x === 0) g.moveTo(x, y); else g.lineTo(x, y);
    }
    g.stroke();
  });
  g.fillStyle = "#ffffff";
  g.fillRect(Math.round(state.frame / Math.max(1, DATA.frames - 1) * (w - 1)), 0, 1, h);
}

// ---- views -------------------------------------------------------------------------------
function resize() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  renderer.setSize(w, h, false);
  camera.aspect = w / h;
  if (state.through) lookThrough(state.through.group, state.through.name);
  else camera.updateProjectionMatrix();
}

function lookThrough(groupIndex, name) { // the setting's camera: pinhole K (no distortion), image fitted in the canvas
  const { group, setting } = state.cameraGroups[groupIndex];
  const cam = setting.cameras.find((c) => c.name === name);
  state.through = { group: groupIndex, name };
  document.getElementById("through").value = `${groupIndex}:${name}`;
  controls.enabled = false;
  const W = canvas.clientWidth, H = canvas.clientHeight, [w, h] = cam.size, s = Math.min(W / w, H / h);
  const fx = s * cam.K[0][0], fy = s * cam.K[1][1], cx = (W - s * w) / 2 + s * cam.K[0][2], cy = (H - s * h) / 2 + s * cam.K[1][2];
  const n = camera.near, f = camera.far, R = cam.R, C = cameraCentre(cam).add(group.position);
  camera.projectionMatrix.set(
    2 * fx / W, 0, 1 - 2 * cx / W, 0,
    0, 2 * fy / H, 2 * cy / H - 1, 0,
    0, 0, -(f + n) / (f - n), -2 * f * n / (f - n),
    0, 0, -1, 0);
  camera.projectionMatrixInverse.copy(camera.projectionMatrix).invert();
  // camera-to-world rotation: columns = R^T with y and z flipped (OpenGL looks down -z, y up)
  _m.set(R[0][0], -R[1][0], -R[2][0], C.x, R[0][1], -R[1][1], -R[2][1], C.y, R[0][2], -R[1][2], -R[2][2], C.z, 0, 0, 0, 1);
  camera.matrixAutoUpdate = false;
  camera.matrix.copy(_m);
  camera.matrix.decompose(camera.position, camera.quaternion, camera.scale);
  camera.updateMatrixWorld(true);
}

function orbit() {
  state.through = null;
  document.getElementById("through").value = "";
  camera.matrixAutoUpdate = true;
  controls.enabled = true;
  camera.updateProjectionMatrix();
}

function frameAll() {
  let xmin = Infinity, xmax = -Infinity;
  for (const t of state.tracks) {
    const P = t.points, off = t.data.offset[0];
    if (P) for (let i = 0; i < P.length; i += 3) if (Number.isFinite(P[i])) { xmin = Math.min(xmin, P[i] + off); xmax = Math.max(xmax, P[i] + off); }
    if (t.mesh) for (let i = 0; i < t.mesh.offsets.length; i += 3) { xmin = Math.min(xmin, t.mesh.offsets[i] + off); xmax = Math.max(xmax, t.mesh.offsets[i] + off); }
  }
  if (!Number.isFinite(xmin)) { xmin = -100; xmax = 100; }
  addFloor(xmin, xmax);
  const cx = (xmin + xmax) / 2, span = Math.max(300, xmax - xmin);
  controls.target.set(cx, DATA.floor_y + 90, 0);
  camera.position.set(cx, DATA.floor_y + 210, 160 + span * 0.8);
  controls.update();
}

function legend() { // built from text nodes: names from files never become markup
  const box = document.getElementById("legend");
  for (const t of state.tracks) {
    const c = COLORS[t.data.source] || COLORS.anno, row = document.createElement("div"), swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = "#" + new THREE.Color(c.side[1]).getHexString();
    const what = [t.data.skeleton ? t.data.skeleton.source : null, t.data.mesh ? `mesh (≤ ${t.data.mesh.error_cm.toFixed(1)} cm)` : null]
      .filter(Boolean).join(" + ");
    const v = t.data.joint_values;
    const values = v ? ` · joints: ${v.kind} (${v.good === "high" ? "red 0, green 1" : `green 0, red ≥ ${v.max} ${v.unit}`})` : "";
    row.append(swatch, document.createTextNode(`${t.data.sequence} · ${t.data.source} · ${what}${values}`));
    box.appendChild(row);
  }
}

// ---- start -------------------------------------------------------------------------------
function tick() {
  if (state.playing) {
    let n = clockFrame();
    if (n >= DATA.frames) { // loop
      state.t0 = 0; state.wall0 = performance.now(); n = 0;
      if (audio.src) audio.currentTime = musicOffset;
    }
    if (n !== state.frame) setFrame(n);
    syncAudio();
  }
  if (!state.through) controls.update();
  renderer.render(scene, camera);
  requestAnimationFrame(tick);
}

function bind() {
  playButton.onclick = () => (state.playing ? pause() : play());
  document.getElementById("prev").onclick = () => { pause(); setFrame(state.frame - 1); };
  document.getElementById("next").onclick = () => { pause(); setFrame(state.frame + 1); };
  slider.oninput = () => { const was = state.playing; pause(); setFrame(Number(slider.value)); if (was) play(); };
  document.getElementById("speed").onchange = (e) => {
    const was = state.playing; pause(); state.speed = Number(e.target.value); if (audio.src) audio.playbackRate = state.speed; if (was) play();
  };
  for (const key of ["skeleton", "mesh", "cameras"]) {
    document.getElementById(`show-${key}`).onchange = (e) => setVisible({ [key]: e.target.checked });
  }
  document.getElementById("through").onchange = (e) => {
    const value = e.target.value, at = value.indexOf(":");
    if (!value) orbit(); else lookThrough(Number(value.slice(0, at)), value.slice(at + 1));
  };
  window.addEventListener("keydown", (e) => {
    if (e.key === " ") { e.preventDefault(); state.playing ? pause() : play(); }
    if (e.key === "ArrowLeft") { pause(); setFrame(state.frame - 1); }
    if (e.key === "ArrowRight") { pause(); setFrame(state.frame + 1); }
  });
  window.addEventListener("resize", resize);
}

function setVisible(flags) {
  Object.assign(state.show, flags);
  for (const c of state.cameraGroups) c.group.visible = state.show.cameras;
  for (const key of ["skeleton", "mesh", "cameras"]) document.getElementById(`show-${key}`).checked = state.show[key];
  setFrame(state.frame);
}

async function main() {
  const faces = DATA.faces ? await unpack(DATA.faces) : null;
  for (const t of DATA.tracks) await addTrack(t, faces);
  for (const s of DATA.settings) addCameras(s);
  for (const p of DATA.pairs) {
    const error = await unpack(p.error_cm);
    let max = 0;
    for (const e of error) if (Number.isFinite(e)) max = Math.max(max, e);
    state.pairs.push({ a: p.a, b: p.b, error, mean: p.mean_cm ?? NaN, max: max || 1 });
  }
  if (DATA.music) audio.src = `data:${DATA.music.mime};base64,${DATA.music.b64}`;
  if (!state.tracks.some((t) => t.mesh)) document.getElementById("show-mesh").parentElement.style.display = "none";
  slider.max = String(DATA.frames - 1);
  bind();
  frameAll();
  legend();
  resize();
  setFrame(0);
  document.getElementById("status").textContent = DATA.music ? `music: ${DATA.music.file}` : "";
  // test and scripting hook (tests/test_view.py)
  window.aistppViewer = {
    ready: true, frames: DATA.frames, fps: FPS,
    frame: () => state.frame, clock: () => (state.playing ? clockFrame() : state.frame), playing: () => state.playing, play, pause, setFrame, setVisible, lookThrough, orbit,
    render: () => renderer.render(scene, camera),
    meshVertices: (track, n) => { // world vertices (V * 3) cm of a track's mesh at frame n, as drawn
      const t = state.tracks[track], out = new Float32Array(t.mesh.rest.length);
      skinFrame(t.mesh, n, out);
      return Array.from(out, (x, i) => x + t.data.offset[i % 3]);
    },
    floorY: DATA.floor_y,
    cameraMatrices: () => ({ projection: camera.projectionMatrix.toArray(), view: camera.matrixWorldInverse.toArray(),
      width: canvas.clientWidth, height: canvas.clientHeight }),
  };
  requestAnimationFrame(tick);
}

main().catch((e) => { document.getElementById("status").textContent = "error: " + e; throw e; });
