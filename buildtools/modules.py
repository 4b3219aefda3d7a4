"""The one list of Asterisk modules of the `minimal` build profile.

Every sandbox (buildtools.testing) loads :data:`SANDBOX_MODULES` (plus what a test asks for);
the `minimal` build (buildtools.build) selects those and :data:`BUILD_ONLY_MODULES`, modules a
test or `buildtools run` may load but a sandbox does not load by default. Names are menuselect
names, i.e. the module file without `.so`.
"""

from __future__ import annotations

#: Loaded by every sandbox: boots in < 1 s and holds what our tests drive from the dialplan.
SANDBOX_MODULES: tuple[str, ...] = (
    "res_pjproject", "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb",
    "res_pjsip", "res_pjsip_session", "res_pjsip_pubsub", "chan_pjsip",
    "res_pjsip_endpoint_identifier_ip", "res_pjsip_endpoint_identifier_user",
    "res_pjsip_authenticator_digest", "res_pjsip_outbound_authenticator_digest",
    "res_pjsip_sdp_rtp", "res_pjsip_caller_id", "res_pjsip_rfc3326",
    "res_pjsip_header_funcs", "res_pjsip_logger", "res_pjsip_registrar",
    "res_pjsip_path", "res_rtp_asterisk", "res_timing_timerfd",
    "bridge_simple", "bridge_native_rtp", "pbx_config",
    "app_dial", "app_echo", "app_playback", "app_verbose", "app_stack",
    "app_userevent", "func_hangupcause", "func_channel", "func_strings",
    "func_logic", "func_base64", "func_cut", "func_callerid", "codec_ulaw", "codec_alaw",
    "format_wav", "format_pcm",
)

#: Built by the `minimal` profile too, for res_pjsip work and SIPp tests (BUILD.md).
BUILD_ONLY_MODULES: tuple[str, ...] = (
    "res_pjsip_endpoint_identifier_anonymous", "res_pjsip_outbound_registration",
    "res_pjsip_diversion", "res_pjsip_nat", "res_pjsip_dtmf_info", "res_pjsip_notify",
    "res_pjsip_acl", "res_pjsip_refer", "res_pjsip_options", "res_pjsip_exten_state",
    "res_sorcery_memory_cache", "res_musiconhold", "res_clioriginate",
    "app_senddtmf", "app_system", "app_db", "func_config", "func_shell", "func_db", "codec_a_mu",
)

#: What `buildtools build --profile minimal` selects.
MINIMAL_MODULES: tuple[str, ...] = SANDBOX_MODULES + BUILD_ONLY_MODULES
