"""GENERATED from firmware_zephyr/protocol/wire.toml by `python -m hil_service.tools.gen_wire`.

Do not edit: change the table and regenerate (docs/protocol.md, "The wire table").
"""

from __future__ import annotations

import ctypes

from hil_service.wire_schema import Constraint, Field, Message, Param, StructDef

PROTOCOL_VERSION = 5

STRATEGY_NAMES: tuple[str, ...] = ('full', 'last_layer', 'tinyprop', 'last_layer_q8')
SCORE_NAMES: tuple[str, ...] = ('none', 'least_confidence', 'margin', 'ratio', 'entropy')

PARAMS: dict[str, Param] = {
    'strategy': Param(
        name='strategy',
        index=1,
        c_field='strategy',
        c_type='uint32',
        default='full',
        doc='which weights a training step changes',
        enum=('full', 'last_layer', 'tinyprop', 'last_layer_q8'),
    ),
    'learning_rate': Param(
        name='learning_rate',
        index=2,
        c_field='learning_rate',
        c_type='float',
        default=0.05,
        doc='SGD step size',
        min=0.0,
        max=10.0,
        min_open=True,
        core_default=0.01,
    ),
    'momentum': Param(
        name='momentum',
        index=3,
        c_field='momentum',
        c_type='float',
        default=0.0,
        doc='heavy-ball momentum; 0 = plain SGD and no velocity buffers',
        min=0.0,
        max=1.0,
        max_open=True,
    ),
    's_min': Param(
        name='s_min',
        index=4,
        c_field='tp_s_min',
        c_type='float',
        default=0.1,
        doc='TinyProp: smallest share of rows given gradients',
        min=0.0,
        max=1.0,
    ),
    's_max': Param(
        name='s_max',
        index=5,
        c_field='tp_s_max',
        c_type='float',
        default=0.9,
        doc='TinyProp: largest share of rows given gradients',
        min=0.0,
        max=1.0,
    ),
    'zeta': Param(
        name='zeta',
        index=6,
        c_field='tp_zeta',
        c_type='float',
        default=0.5,
        doc='TinyProp: damping of the share per layer going backwards',
        min=0.0,
        max=1.0,
        min_open=True,
    ),
    'gate_threshold': Param(
        name='gate_threshold',
        index=7,
        c_field='gate_threshold',
        c_type='float',
        default=0.0,
        doc='skip gate: no backward pass when 1 - p[label] is below this; 0 = off',
        min=0.0,
        max=1.0,
    ),
    'select_score': Param(
        name='select_score',
        index=8,
        c_field='select_score',
        c_type='uint32',
        default='none',
        doc='data point selection score; none = off',
        enum=('none', 'least_confidence', 'margin', 'ratio', 'entropy'),
    ),
    'select_threshold': Param(
        name='select_threshold',
        index=9,
        c_field='select_threshold',
        c_type='float',
        default=0.0,
        doc='train only when score >= threshold (margin: score <= threshold)',
        min=0.0,
        max=1.0,
    ),
    'pseudo_score': Param(
        name='pseudo_score',
        index=10,
        c_field='pseudo_score',
        c_type='uint32',
        default='none',
        doc='unlabelled TRAIN: score that decides whether a prediction becomes a pseudo label; none = every one',
        enum=('none', 'least_confidence', 'margin', 'ratio', 'entropy'),
    ),
    'pseudo_threshold': Param(
        name='pseudo_threshold',
        index=11,
        c_field='pseudo_threshold',
        c_type='float',
        default=0.0,
        doc='pseudo label when score <= threshold (margin: score >= threshold), else the sample is skipped',
        min=0.0,
        max=1.0,
    ),
    'l2sp_lambda': Param(
        name='l2sp_lambda',
        index=12,
        c_field='l2sp_lambda',
        c_type='float',
        default=0.0,
        doc='L2-SP: penalty lambda * |W - W0|^2 toward the last loaded weights; 0 = off',
        min=0.0,
        max=1.0,
    ),
}

CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint('s_min', '<=', 's_max'),
)

CYCLE_STAT = StructDef('cycle_stat', (
    Field('count', 'u32', 0),
    Field('min', 'u32', 4),
    Field('max', 'u32', 8),
    Field('sum', 'u64', 12),
), 20)

LAYER_K = StructDef('layer_k', (
    Field('k_sum', 'u64', 0, doc='TinyProp rows selected, summed over trained steps'),
    Field('k_min', 'u16', 8),
    Field('k_max', 'u16', 10),
    Field('reserved', 'u32', 12),
), 16)

PREDICTION = StructDef('prediction', (
    Field('predicted', 'u8', 0),
    Field('second', 'u8', 1),
    Field('p1', 'f32', 2),
    Field('p2', 'f32', 6),
    Field('score', 'f32', 10, doc="uncertainty score of the batch's score kind"),
), 14)

HELLO = Message('hello', 0x01, (
), 0, True)

HELLO_REPLY = Message('hello_reply', 0x81, (
    Field('protocol_version', 'u8', 0),
    Field('max_layers', 'u8', 1),
    Field('max_inputs', 'u16', 2),
    Field('max_neurons', 'u16', 4),
    Field('max_body', 'u16', 6),
    Field('rx_capacity', 'u32', 8, doc='wire bytes the host may keep unacknowledged'),
    Field('cycles_hz', 'u32', 12),
    Field('arena_size', 'u32', 16),
    Field('stack_size', 'u32', 20),
    Field('strategies_mask', 'u8', 24, doc='bit i: strategy i supported'),
    Field('scores_mask', 'u8', 25, doc='bit i: score i supported'),
    Field('fw_version', 'str', 26),
    Field('git_hash', 'str', None),
    Field('board', 'str', None),
    Field('device_id', 'bytes', None),
    Field('last_seq', 'u16', None, doc='seq of the last request executed before this HELLO'),
    Field('last_seq_valid', 'u8', None, doc='0: nothing executed since boot (last_seq is 0)'),
    Field('frag_max', 'u16', None, doc='FRAGMENT: largest body the device reassembles (0: none)'),
), 26, False)

CONFIGURE = Message('configure', 0x02, (
    Field('n_layers', 'u8', 0),
    Field('strategy', 'u8', 1, param='strategy'),
    Field(
        'sizes',
        'u16',
        2,
        count=5,
        array=True,
        doc='features, hidden widths, classes; 0 past n_layers',
    ),
    Field('select_score', 'u8', 12, param='select_score'),
    Field('init_weights', 'u8', 13, doc='1: He-uniform weights from seed'),
    Field('reserved', 'u16', 14),
    Field('learning_rate', 'f32', 16, param='learning_rate'),
    Field('momentum', 'f32', 20, param='momentum'),
    Field('s_min', 'f32', 24, param='s_min'),
    Field('s_max', 'f32', 28, param='s_max'),
    Field('zeta', 'f32', 32, param='zeta'),
    Field('gate_threshold', 'f32', 36, param='gate_threshold'),
    Field('select_threshold', 'f32', 40, param='select_threshold'),
    Field('seed', 'u32', 44),
    Field('pseudo_score', 'u8', 48, param='pseudo_score'),
    Field('reserved2', 'u8', 49),
    Field('reserved3', 'u16', 50),
    Field('pseudo_threshold', 'f32', 52, param='pseudo_threshold'),
    Field('l2sp_lambda', 'f32', 56, param='l2sp_lambda'),
), 60, True)

CONFIGURE_CONTINUAL = Message('configure_continual', 0x02, (
    Field('n_layers', 'u8', 0),
    Field('strategy', 'u8', 1),
    Field(
        'sizes',
        'u16',
        2,
        count=5,
        array=True,
        doc='features, hidden widths, classes; 0 past n_layers',
    ),
    Field('select_score', 'u8', 12),
    Field('init_weights', 'u8', 13, doc='1: He-uniform weights from seed'),
    Field('reserved', 'u16', 14),
    Field('learning_rate', 'f32', 16),
    Field('momentum', 'f32', 20),
    Field('s_min', 'f32', 24),
    Field('s_max', 'f32', 28),
    Field('zeta', 'f32', 32),
    Field('gate_threshold', 'f32', 36),
    Field('select_threshold', 'f32', 40),
    Field('seed', 'u32', 44),
    Field('pseudo_score', 'u8', 48),
    Field('reserved2', 'u8', 49),
    Field('reserved3', 'u16', 50),
    Field('pseudo_threshold', 'f32', 52),
    Field('l2sp_lambda', 'f32', 56),
    Field(
        'max_sizes',
        'u16',
        60,
        count=5,
        array=True,
        doc='largest sizes GROW may reach; 0 past n_layers',
    ),
    Field('replay_capacity', 'u32', 70, doc='bytes of replay memory'),
), 74, True)

CONFIGURE_REPLY = Message('configure_reply', 0x82, (
    Field('arena_needed', 'u32', 0),
    Field('arena_size', 'u32', 4),
), 8, True)

LOAD_WEIGHTS = Message('load_weights', 0x03, (
    Field('offset', 'u32', 0, doc='0 starts a load; else where the last chunk ended'),
    Field('total', 'u32', 4, doc='blob bytes in all'),
    Field('chunk', 'blob', 8),
), 8, False)

LOAD_WEIGHTS_REPLY = Message('load_weights_reply', 0x83, (
    Field('received', 'u32', 0),
    Field('complete', 'u8', 4),
), 5, True)

READ_WEIGHTS = Message('read_weights', 0x04, (
    Field('offset', 'u32', 0),
    Field('max_len', 'u16', 4),
), 6, True)

READ_WEIGHTS_REPLY = Message('read_weights_reply', 0x84, (
    Field('total', 'u32', 0),
    Field('offset', 'u32', 4),
    Field('chunk', 'blob', 8),
), 8, False)

BATCH = Message('batch', 0x05, (
    Field('encoding', 'u8', 0, doc='0 float32, 1 int8'),
    Field('score_kind', 'u8', 1, doc='score of the predictions (INFER, EVALUATE)'),
    Field('count', 'u16', 2),
    Field('n_features', 'u16', 4),
    Field('reserved', 'u16', 6),
    Field('records', 'blob', 8),
), 8, False)

BATCH_QUANT = Message('batch_quant', 0x05, (
    Field('encoding', 'u8', 0),
    Field('score_kind', 'u8', 1),
    Field('count', 'u16', 2),
    Field('n_features', 'u16', 4),
    Field('reserved', 'u16', 6),
    Field('scale', 'f32', 8, doc='x = scale * (q - zero_point)'),
    Field('zero_point', 'i16', 12),
    Field('reserved2', 'u16', 14),
    Field('records', 'blob', 16),
), 16, False)

TRAIN_REPLY = Message('train_reply', 0x85, (
    Field('count', 'u16', 0),
    Field('trained', 'u16', 2),
    Field('skipped', 'u16', 4),
    Field('not_selected', 'u16', 6),
    Field('loss_sum', 'f32', 8),
    Field('per_sample', 'blob', 12),
), 12, False)

TRAIN_UNLABELLED_REPLY = Message('train_unlabelled_reply', 0x8D, (
    Field('count', 'u16', 0),
    Field('trained', 'u16', 2),
    Field('skipped', 'u16', 4),
    Field('not_selected', 'u16', 6),
    Field('not_confident', 'u16', 8, doc='samples left without a pseudo label'),
    Field('reserved', 'u16', 10),
    Field('loss_sum', 'f32', 12, doc='cross-entropy against the pseudo labels, summed'),
    Field('per_sample', 'blob', 16),
), 16, False)

INFER_REPLY = Message('infer_reply', 0x86, (
    Field('count', 'u16', 0),
    Field('predictions', 'blob', 2, doc='count x prediction'),
), 2, False)

EVALUATE_REPLY = Message('evaluate_reply', 0x87, (
    Field('count', 'u16', 0),
    Field('correct', 'u16', 2),
    Field('loss_sum', 'f32', 4),
    Field('predictions', 'blob', 8, doc='count x prediction'),
), 8, False)

METRICS = Message('metrics', 0x08, (
    Field('reset', 'u8', 0, doc='1: clear statistics after reading'),
), 1, True)

METRICS_REPLY = Message('metrics_reply', 0x88, (
    Field('forward', 'cycle_stat', 0, struct=CYCLE_STAT),
    Field('backward', 'cycle_stat', 20, struct=CYCLE_STAT),
    Field('update', 'cycle_stat', 40, struct=CYCLE_STAT),
    Field('macs_forward', 'u64', 60),
    Field('macs_backward', 'u64', 68),
    Field('macs_backward_full', 'u64', 76),
    Field('seen', 'u32', 84),
    Field('selected', 'u32', 88),
    Field('trained', 'u32', 92),
    Field('skipped', 'u32', 96),
    Field('n_layers', 'u8', 100),
    Field('configured', 'u8', 101),
    Field('reserved', 'u16', 102),
    Field('layers', 'layer_k', 104, count=4, array=True, struct=LAYER_K),
    Field('arena_size', 'u32', 168),
    Field('arena_needed', 'u32', 172),
    Field('arena_peak', 'u32', 176),
    Field('stack_size', 'u32', 180),
    Field('stack_high_water', 'u32', 184),
    Field('rx_overruns', 'u32', 188),
    Field('frames_ok', 'u32', 192),
    Field('frames_bad', 'u32', 196),
    Field('frames_duplicate', 'u32', 200),
    Field('cycles_hz', 'u32', 204),
), 208, True)

RESET = Message('reset', 0x09, (
    Field('hard', 'u8', 0, doc='1: reset the MCU after the reply'),
), 1, True)

RESET_REPLY = Message('reset_reply', 0x89, (
), 0, True)

LOAD_REPLAY = Message('load_replay', 0x0A, (
    Field('first', 'u16', 0, doc="index of the chunk's first sample"),
    Field('total', 'u16', 2, doc='samples in the whole memory; 0 empties it'),
    Field('n_features', 'u16', 4),
    Field('encoding', 'u8', 6, doc='0 float32, 1 int8'),
    Field('ratio', 'u8', 7, doc='replay steps after each new TRAIN sample'),
    Field('scale', 'f32', 8, doc='int8: x = scale * (q - zero_point)'),
    Field('zero_point', 'i16', 12),
    Field('reserved', 'u16', 14),
    Field('records', 'blob', 16),
), 16, False)

LOAD_REPLAY_REPLY = Message('load_replay_reply', 0x8A, (
    Field('received', 'u16', 0),
    Field('complete', 'u8', 2),
    Field('reserved', 'u8', 3),
    Field('replay_bytes', 'u32', 4, doc='bytes the memory holds so far'),
), 8, True)

GROW = Message('grow', 0x0B, (
    Field(
        'sizes',
        'u16',
        0,
        count=5,
        array=True,
        doc='the grown sizes; same depth and inputs, none smaller',
    ),
    Field('reserved', 'u16', 10),
    Field('seed', 'u32', 12, doc='xorshift32 seed of the new incoming weights'),
), 16, True)

GROW_REPLY = Message('grow_reply', 0x8B, (
    Field('n_params', 'u32', 0, doc='parameters after the growth'),
    Field('arena_used', 'u32', 4, doc='arena bytes the grown model lays out'),
), 8, True)

FRAGMENT = Message('fragment', 0x0C, (
    Field('cmd', 'u8', 0, doc='the command whose body this is a piece of'),
    Field('reserved', 'u8', 1),
    Field('first_seq', 'u16', 2, doc='seq of the piece at offset 0: names the reassembly'),
    Field('total', 'u16', 4, doc='body bytes of the whole command (1..frag_max)'),
    Field('offset', 'u16', 6, doc='where the piece goes; 0 starts a reassembly'),
    Field('piece', 'blob', 8),
), 8, False)

FRAGMENT_REPLY = Message('fragment_reply', 0x8C, (
    Field('received', 'u16', 0, doc='body bytes reassembled so far'),
    Field('total', 'u16', 2),
), 4, True)

ERROR = Message('error', 0xFF, (
    Field('code', 'u8', 0),
    Field('cmd', 'u8', 1),
    Field('core_status', 'i16', 2, doc='odl_status_t when code is CORE'),
    Field('expected_seq', 'u16', 4),
    Field(
        'detail',
        'u16',
        6,
        doc='CORE: sample index; CONFIGURE: 1 + index of the refused parameter; BAD_FRAGMENT: bytes reassembled so far',
    ),
), 8, True)

MESSAGES: dict[str, Message] = {
    'hello': HELLO,
    'hello_reply': HELLO_REPLY,
    'configure': CONFIGURE,
    'configure_continual': CONFIGURE_CONTINUAL,
    'configure_reply': CONFIGURE_REPLY,
    'load_weights': LOAD_WEIGHTS,
    'load_weights_reply': LOAD_WEIGHTS_REPLY,
    'read_weights': READ_WEIGHTS,
    'read_weights_reply': READ_WEIGHTS_REPLY,
    'batch': BATCH,
    'batch_quant': BATCH_QUANT,
    'train_reply': TRAIN_REPLY,
    'train_unlabelled_reply': TRAIN_UNLABELLED_REPLY,
    'infer_reply': INFER_REPLY,
    'evaluate_reply': EVALUATE_REPLY,
    'metrics': METRICS,
    'metrics_reply': METRICS_REPLY,
    'reset': RESET,
    'reset_reply': RESET_REPLY,
    'load_replay': LOAD_REPLAY,
    'load_replay_reply': LOAD_REPLAY_REPLY,
    'grow': GROW,
    'grow_reply': GROW_REPLY,
    'fragment': FRAGMENT,
    'fragment_reply': FRAGMENT_REPLY,
    'error': ERROR,
}


class TrainParamsStruct(ctypes.Structure):
    """ctypes mirror of odl_train_params_t (odl_model.h, member order of the table)."""

    _fields_ = [
        ('strategy', ctypes.c_uint32),
        ('learning_rate', ctypes.c_float),
        ('momentum', ctypes.c_float),
        ('tp_s_min', ctypes.c_float),
        ('tp_s_max', ctypes.c_float),
        ('tp_zeta', ctypes.c_float),
        ('gate_threshold', ctypes.c_float),
        ('select_score', ctypes.c_uint32),
        ('select_threshold', ctypes.c_float),
        ('pseudo_score', ctypes.c_uint32),
        ('pseudo_threshold', ctypes.c_float),
        ('l2sp_lambda', ctypes.c_float),
    ]
