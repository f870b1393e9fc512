//! SMPP `command_status` values: names for humans, and which errors a gateway retries.

/// The errors established gateways (Jasmin, Kannel) retry instead of failing the message:
/// system error, message queue full, throttled, temporary application error.
pub const DEFAULT_RETRYABLE: [u32; 4] = [0x08, 0x14, 0x58, 0x64];

/// The SMPP 3.4 name of a `command_status`, if it is a standard one.
pub fn status_name(command_status: u32) -> Option<&'static str> {
    Some(match command_status {
        0x00 => "ESME_ROK",
        0x01 => "ESME_RINVMSGLEN",
        0x02 => "ESME_RINVCMDLEN",
        0x03 => "ESME_RINVCMDID",
        0x04 => "ESME_RINVBNDSTS",
        0x05 => "ESME_RALYBND",
        0x06 => "ESME_RINVPRTFLG",
        0x07 => "ESME_RINVREGDLVFLG",
        0x08 => "ESME_RSYSERR",
        0x0A => "ESME_RINVSRCADR",
        0x0B => "ESME_RINVDSTADR",
        0x0C => "ESME_RINVMSGID",
        0x0D => "ESME_RBINDFAIL",
        0x0E => "ESME_RINVPASWD",
        0x0F => "ESME_RINVSYSID",
        0x11 => "ESME_RCANCELFAIL",
        0x13 => "ESME_RREPLACEFAIL",
        0x14 => "ESME_RMSGQFUL",
        0x15 => "ESME_RINVSERTYP",
        0x33 => "ESME_RINVNUMDESTS",
        0x34 => "ESME_RINVDLNAME",
        0x40 => "ESME_RINVDESTFLAG",
        0x42 => "ESME_RINVSUBREP",
        0x43 => "ESME_RINVESMCLASS",
        0x44 => "ESME_RCNTSUBDL",
        0x45 => "ESME_RSUBMITFAIL",
        0x48 => "ESME_RINVSRCTON",
        0x49 => "ESME_RINVSRCNPI",
        0x50 => "ESME_RINVDSTTON",
        0x51 => "ESME_RINVDSTNPI",
        0x53 => "ESME_RINVSYSTYP",
        0x54 => "ESME_RINVREPFLAG",
        0x55 => "ESME_RINVNUMMSGS",
        0x58 => "ESME_RTHROTTLED",
        0x61 => "ESME_RINVSCHED",
        0x62 => "ESME_RINVEXPIRY",
        0x63 => "ESME_RINVDFTMSGID",
        0x64 => "ESME_RX_T_APPN",
        0x65 => "ESME_RX_P_APPN",
        0x66 => "ESME_RX_R_APPN",
        0x67 => "ESME_RQUERYFAIL",
        0xC0 => "ESME_RINVOPTPARSTREAM",
        0xC1 => "ESME_ROPTPARNOTALLWD",
        0xC2 => "ESME_RINVPARLEN",
        0xC3 => "ESME_RMISSINGOPTPARAM",
        0xC4 => "ESME_RINVOPTPARAMVAL",
        0xFE => "ESME_RDELIVERYFAILURE",
        0xFF => "ESME_RUNKNOWNERR",
        _ => return None,
    })
}

/// `command_status 0x0000000B (ESME_RINVDSTADR)`, or without the name for vendor codes.
pub fn describe(command_status: u32) -> String {
    match status_name(command_status) {
        Some(name) => format!("command_status 0x{command_status:08X} ({name})"),
        None => format!("command_status 0x{command_status:08X}"),
    }
}

/// `ESME_RTHROTTLED 0x00000058`, the short form used in expiry descriptions.
pub fn short(command_status: u32) -> String {
    match status_name(command_status) {
        Some(name) => format!("{name} 0x{command_status:08X}"),
        None => format!("0x{command_status:08X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_codes_and_formats_them_like_the_contract() {
        assert_eq!(describe(0x0B), "command_status 0x0000000B (ESME_RINVDSTADR)");
        assert_eq!(short(0x58), "ESME_RTHROTTLED 0x00000058");
        assert_eq!(describe(0x400), "command_status 0x00000400");
        for code in DEFAULT_RETRYABLE {
            assert!(status_name(code).is_some());
        }
    }
}
