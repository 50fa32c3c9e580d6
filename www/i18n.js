// Interface strings in English and Chinese. The language follows the browser until switched.

const STRINGS = {
  en: {
    title: 'VLM Explainer',
    subtitle: 'Drop an image anywhere and watch it become tokens: patches, features, projection, and the answer.',
    language: 'Language', model: 'Model',
    model_default: 'shipped model', model_seed: 'lesson size (seed preset, random weights)',
    model_files: 'your model files', open_model: 'Open model…',
    own_model: (name, files) => `Your model “${name}” (${files}), loaded in this tab only: nothing was uploaded.`,
    input_title: 'The image the model sees', choose_file: 'Choose an image…', new_scene: 'New scene',
    truth: (c) => `Drawn: ${c}`,
    drop_hint: 'or drop / paste one anywhere',
    vision_title: 'Vision encoder (frozen)',
    pca_caption: 'Patch features, 3 main directions as RGB',
    layer: 'Layer', head: 'Head', query: 'From', mean: 'mean', all_layers: 'mean of all',
    query_cls: 'the CLS token', query_patch: 'the patch under the pointer',
    vision_attention_caption: (layer, head, from) => `Attention in layer ${layer}, ${head}, from ${from}`,
    head_label: (h) => (h < 0 ? 'mean over heads' : `head ${h}`),
    from_patch: (i) => `patch ${i}`,
    loading_wasm: 'starting WebAssembly…', loading_fetch: 'fetching the model…', loading_weights: 'reading the weights…',
    loading_random: 'drawing random weights…',
    vision_explain: 'Each row is one patch\'s feature vector; hover a patch to find its row.',
    projection_title: 'Projection (trainable)',
    sequence_title: 'What the LLM receives',
    generation_title: 'Generation', ask: 'Ask',
    status_loading: 'loading the model…', status_ready: 'ready', status_busy: 'working…',
    patch_info: (r, c, i) => `patch (row ${r}, col ${c}) → image token ${i}`,
    token_info: (i, piece) => `text token ${i}: “${piece}”`,
    frozen: 'frozen', trainable: 'trainable', params: 'values',
    part_vision: 'vision encoder', part_projector: 'projector', part_llm: 'LLM',
    untrained: (preset, seed) => `Untrained ${preset} model: random weights drawn from seed ${seed}. The shapes are real; the words are noise until a trained model is loaded.`,
    trained: (name) => `Trained model “${name}”.`,
    speed: (n, tps) => `${n} tokens, ${tps.toFixed(1)} tokens/s`,
    attention_of: (piece, layer, head) => `Attention of “${piece}” over the image (${layer < 0 ? 'mean over layers' : `layer ${layer + 1}`}, ${head < 0 ? 'mean over heads' : `head ${head + 1}`})`,
    task_caption: 'describe the image', task_colour: 'what colour…?', task_where: 'where…?', task_count: 'how many…?',
    task_exists: 'is there…?', task_free: 'your own question',
    caption_prompt: 'describe the image', colour_prompt: 'what colour is the circle?', where_prompt: 'where is the circle?',
    count_prompt: 'how many shapes are there?', exists_prompt: 'is there a star?', free_prompt: '',
    seed_caption_prompt: 'describe an image',
    err_prefix: 'Could not use that: ',
  },
  zh: {
    title: 'VLM 图解',
    subtitle: '把图片拖到页面任意位置，看它如何变成 token：图块、特征、投影和回答。',
    language: '语言', model: '模型',
    model_default: '自带模型', model_seed: '课程尺寸（seed 预设，随机权重）',
    model_files: '你的模型文件', open_model: '打开模型…',
    own_model: (name, files) => `你的模型“${name}”（${files}），只在本页中加载，没有上传任何内容。`,
    input_title: '模型看到的图像', choose_file: '选择图片…', new_scene: '新场景',
    truth: (c) => `画的是：${c}`,
    drop_hint: '或拖放 / 粘贴到页面任意位置',
    vision_title: '视觉编码器（冻结）',
    pca_caption: '图块特征的 3 个主方向（映射为 RGB）',
    layer: '层', head: '头', query: '来自', mean: '平均', all_layers: '所有层平均',
    query_cls: 'CLS token', query_patch: '鼠标所在的图块',
    vision_attention_caption: (layer, head, from) => `第 ${layer} 层、${head}，来自${from}的注意力`,
    head_label: (h) => (h < 0 ? '各头平均' : `第 ${h} 个头`),
    from_patch: (i) => `图块 ${i}`,
    loading_wasm: '正在启动 WebAssembly…', loading_fetch: '正在下载模型…', loading_weights: '正在读取权重…',
    loading_random: '正在生成随机权重…',
    vision_explain: '每一行是一个图块的特征向量；把鼠标移到图块上可找到对应的行。',
    projection_title: '投影层（可训练）',
    sequence_title: 'LLM 实际收到的输入',
    generation_title: '生成', ask: '提问',
    status_loading: '正在加载模型…', status_ready: '就绪', status_busy: '计算中…',
    patch_info: (r, c, i) => `图块（第 ${r} 行，第 ${c} 列）→ 图像 token ${i}`,
    token_info: (i, piece) => `文本 token ${i}：“${piece}”`,
    frozen: '冻结', trainable: '可训练', params: '个参数',
    part_vision: '视觉编码器', part_projector: '投影层', part_llm: 'LLM',
    untrained: (preset, seed) => `未训练的 ${preset} 模型：权重由种子 ${seed} 随机生成。形状是真实的；在加载训练好的模型之前，输出的文字只是噪声。`,
    trained: (name) => `已训练模型“${name}”。`,
    speed: (n, tps) => `${n} 个 token，每秒 ${tps.toFixed(1)} 个`,
    attention_of: (piece, layer, head) => `“${piece}”对图像的注意力（${layer < 0 ? '各层平均' : `第 ${layer + 1} 层`}，${head < 0 ? '各头平均' : `第 ${head + 1} 个头`}）`,
    task_caption: '描述图片', task_colour: '什么颜色？', task_where: '在哪里？', task_count: '有几个？',
    task_exists: '有没有？', task_free: '自己提问',
    caption_prompt: '描述这张图片', colour_prompt: '圆形是什么颜色？', where_prompt: '圆形在哪里？',
    count_prompt: '有几个图形？', exists_prompt: '有星形吗？', free_prompt: '',
    seed_caption_prompt: '描述这张图片',
    err_prefix: '无法使用：',
  },
};

let lang = (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
const listeners = [];

export function t(key, ...args) {
  const value = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return typeof value === 'function' ? value(...args) : value;
}

export function getLang() { return lang; }

export function setLang(next) {
  lang = STRINGS[next] ? next : 'en';
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.push(fn); }
