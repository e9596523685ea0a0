"""Real telephony adapters live here, one module per PBX stack.

Each implements :class:`kefu.telephony.port.TelephonyPort` against real SIP/media software
(planned: a sippy B2BUA driving rtpengine over the *ng* protocol; optionally Asterisk ARI or
FreeSWITCH ESL for conferencing). Only modules in this package may import vendor SDKs.
"""
