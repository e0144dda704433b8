// Linli portal: sign in against the JSON API, then browse the part of the node tree the user may see.
"use strict";

const TOKEN_KEY = "linli.access_token";
const LANG_KEY = "linli.lang";

const MESSAGES = {
  "zh-CN": {
    title: "邻里 · 智慧社区治理", switch_language: "English", logout: "退出", sign_in: "登录",
    username: "账号（邮箱或手机号）", password: "密码", tree: "辖区", more: "加载更多",
    all: "全部", empty: "没有下级节点", failed: "请求失败",
    active_alarms: "未处置告警", no_alarms: "此范围内没有未处置的告警", more_alarms: "还有更多告警",
    device: "设备", state: { open: "未确认", acknowledged: "已确认" },
    severity: { low: "低", medium: "中", high: "高", critical: "紧急" },
    level: { district: "区", street: "街道", community: "社区", grid: "网格", estate: "小区" },
    role: {
      district_admin: "区管理员", street_admin: "街道管理员", community_admin: "社区管理员",
      community_staff: "社区工作人员", grid_worker: "网格员", property_manager: "物业",
      auditor: "审计员", resident: "居民", integration: "接入系统",
    },
  },
  en: {
    title: "Linli · Smart community governance", switch_language: "中文", logout: "Sign out", sign_in: "Sign in",
    username: "Account (e-mail or phone)", password: "Password", tree: "Area", more: "Load more",
    all: "All", empty: "No child nodes", failed: "Request failed",
    active_alarms: "Active alarms", no_alarms: "No active alarms here", more_alarms: "More alarms follow",
    device: "Device", state: { open: "Open", acknowledged: "Acknowledged" },
    severity: { low: "Low", medium: "Medium", high: "High", critical: "Critical" },
    level: { district: "District", street: "Street", community: "Community", grid: "Grid", estate: "Estate" },
    role: {
      district_admin: "District admin", street_admin: "Street admin", community_admin: "Community admin",
      community_staff: "Community staff", grid_worker: "Grid worker", property_manager: "Property manager",
      auditor: "Auditor", resident: "Resident", integration: "Integration",
    },
  },
};

const state = {
  lang: localStorage.getItem(LANG_KEY) || "zh-CN", me: null, trail: [], cursor: null, nodes: [], alarms: null,
};

const $ = (id) => document.getElementById(id);
const t = (key) => MESSAGES[state.lang][key] ?? key;
const nodeName = (node) => (state.lang === "en" && node.name_en ? node.name_en : node.name);

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `${t("failed")} (${status})`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => null);
  if (response.status === 401 && token) {
    signOut();
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  if (state.me) renderMe();
  renderBreadcrumb();
  renderTree();
  renderAlarms();
}

function showError(id, message) {
  const box = $(id);
  box.textContent = message;
  box.hidden = !message;
}

async function signIn(event) {
  event.preventDefault();
  showError("login-error", "");
  const form = new URLSearchParams({ username: $("username").value.trim(), password: $("password").value });
  try {
    const tokens = await api("/api/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form,
    });
    sessionStorage.setItem(TOKEN_KEY, tokens.access_token);
    $("password").value = "";
    await start();
  } catch (error) {
    showError("login-error", error.message);
  }
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  state.trail = [];
  state.nodes = [];
  state.alarms = null;
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
}

function renderMe() {
  $("me-name").textContent = state.me.display_name;
  const list = $("me-grants");
  list.replaceChildren();
  for (const grant of state.me.grants) {
    list.append(el("li", { "data-role": grant.role }, `${t("role")[grant.role] || grant.role} · ${grant.node_path}`));
  }
}

function renderBreadcrumb() {
  const nav = $("breadcrumb");
  nav.replaceChildren();
  if (!state.me) return;
  const root = el("a", { "data-depth": "0" }, t("all"));
  root.addEventListener("click", () => openTrail(0));
  nav.append(root);
  state.trail.forEach((node, i) => {
    nav.append(el("span", { class: "sep" }, "›"));
    const link = el("a", { "data-depth": String(i + 1), "data-node-id": String(node.id) }, nodeName(node));
    link.addEventListener("click", () => openTrail(i + 1));
    nav.append(link);
  });
}

function renderTree() {
  const list = $("tree");
  list.replaceChildren();
  if (!state.me) return;
  if (!state.nodes.length) list.append(el("li", { class: "empty" }, t("empty")));
  for (const node of state.nodes) {
    const item = el("li", { class: "node", "data-node-id": String(node.id), "data-level": node.level });
    const link = el("a", { class: "name" }, nodeName(node));
    link.addEventListener("click", () => drillInto(node));
    item.append(el("span", { class: "level" }, t("level")[node.level] || node.level), link,
      el("span", { class: "code" }, node.code));
    list.append(item);
  }
  $("more").hidden = !state.cursor;
}

function renderAlarms() {
  // Hidden for roles that may not read alarms (the API answered 403) and before the first answer.
  const panel = $("alarms-panel");
  panel.hidden = !state.me || !state.alarms;
  if (panel.hidden) return;
  const list = $("alarms");
  list.replaceChildren();
  if (!state.alarms.items.length) list.append(el("li", { class: "empty" }, t("no_alarms")));
  for (const alarm of state.alarms.items) {
    const item = el("li", { class: "alarm", "data-alarm-id": String(alarm.id), "data-severity": alarm.severity });
    item.append(
      el("span", { class: "severity" }, t("severity")[alarm.severity] || alarm.severity),
      el("span", { class: "rule" }, alarm.rule_code),
      el("span", { class: "device" }, `${t("device")} #${alarm.device_id}`),
      el("span", { class: "state" }, t("state")[alarm.state] || alarm.state),
      el("time", { datetime: alarm.opened_at }, new Date(alarm.opened_at).toLocaleString(state.lang)),
    );
    list.append(item);
  }
  if (state.alarms.next_cursor) list.append(el("li", { class: "more" }, t("more_alarms")));
}

async function loadAlarms() {
  // Open and acknowledged alarms under the node being looked at (everywhere the user sees at the top).
  const query = new URLSearchParams({ state: "active", limit: "20" });
  const node = state.trail.at(-1);
  if (node) query.set("node_id", String(node.id));
  try {
    state.alarms = await api(`/api/v1/alarms?${query}`);
  } catch (error) {
    state.alarms = null;
    if (error.status !== 403) throw error;
  }
}

async function loadRoots() {
  // The top of what this user sees: the nodes of their grants (without those inside another grant).
  const paths = state.me.grants.map((g) => g.node_path);
  const tops = state.me.grants.filter(
    (g) => !paths.some((p) => p !== g.node_path && g.node_path.startsWith(p + ".")));
  const unique = [...new Map(tops.map((g) => [g.node_id, g])).values()];
  state.nodes = await Promise.all(unique.map((g) => api(`/api/v1/nodes/${g.node_id}`)));
  state.cursor = null;
}

async function loadChildren(parent, cursor = null) {
  const query = new URLSearchParams({ parent_id: String(parent.id), limit: "100" });
  if (cursor) query.set("cursor", cursor);
  const page = await api(`/api/v1/nodes?${query}`);
  state.nodes = cursor ? [...state.nodes, ...page.items] : page.items;
  state.cursor = page.next_cursor;
}

async function show(loader) {
  showError("tree-error", "");
  try {
    await loader();
    await loadAlarms();
  } catch (error) {
    showError("tree-error", error.message);
  }
  renderBreadcrumb();
  renderTree();
  renderAlarms();
}

function drillInto(node) {
  return show(async () => {
    await loadChildren(node);
    state.trail.push(node);
  });
}

function openTrail(depth) {
  return show(async () => {
    state.trail = state.trail.slice(0, depth);
    if (depth === 0) await loadRoots();
    else await loadChildren(state.trail[depth - 1]);
  });
}

async function start() {
  try {
    state.me = await api("/api/v1/me");
  } catch (error) {
    signOut();
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  renderMe();
  await openTrail(0);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", signOut);
  $("more").addEventListener("click", () => show(() => loadChildren(state.trail.at(-1), state.cursor)));
  $("lang-toggle").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh-CN" : "en";
    localStorage.setItem(LANG_KEY, state.lang);
    applyLanguage();
  });
  applyLanguage();
  if (sessionStorage.getItem(TOKEN_KEY)) start();
  else signOut();
});
