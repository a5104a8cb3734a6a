/* YARA rules for non-Python members (shell, batch, PowerShell, JavaScript, binaries, data).
   Part of the scanning rules: bump rules.toml's version when this file changes. */

rule shell_download_and_run
{
    meta:
        description = "shell script downloads and runs a remote script"
    strings:
        $a = /(curl|wget)[^\n|;]{1,200}\|\s*(ba|z)?sh\b/
        $b = /(curl|wget)[^\n]{1,200}&&\s*chmod\s+\+x/
    condition:
        any of them
}

rule reverse_shell
{
    meta:
        description = "opens a reverse shell"
    strings:
        $a = "/dev/tcp/" ascii
        $b = /\bnc(at)?\s+(-[a-z]*e|--exec)\s/
        $c = /bash\s+-i\s+>&/
    condition:
        any of them
}

rule powershell_encoded
{
    meta:
        description = "PowerShell with an encoded command or download cradle"
    strings:
        $a = /powershell(\.exe)?[^\n]{0,80}\s-(e|en|enc|encodedcommand)\s+[A-Za-z0-9+\/=]{20,}/ nocase
        $b = /(New-Object\s+Net\.WebClient|Invoke-WebRequest|iwr\s)[^\n]{0,200}(DownloadString|DownloadFile|iex|Invoke-Expression)/ nocase
    condition:
        any of them
}

rule windows_lolbin_download
{
    meta:
        description = "Windows built-in tool abused to download or run a payload"
    strings:
        $a = /certutil(\.exe)?\s+[^\n]{0,40}-urlcache/ nocase
        $b = /bitsadmin(\.exe)?\s+\/transfer/ nocase
        $c = /mshta(\.exe)?\s+(https?|javascript|vbscript):/ nocase
        $d = /regsvr32[^\n]{0,40}\/i:https?:/ nocase
    condition:
        any of them
}

rule credential_stealer_strings
{
    meta:
        description = "collects browser, Discord or wallet credentials"
    strings:
        $a = "Login Data" ascii wide
        $b = "discord" ascii wide nocase
        $c = "Local Storage\\leveldb" ascii wide
        $d = "wallet.dat" ascii wide
        $e = "Cookies" ascii wide
        $f = "webhook" ascii wide nocase
    condition:
        3 of them
}

rule js_eval_packed
{
    meta:
        description = "packed JavaScript evaluated at load (eval(function(p,a,c,k,e,d)) or eval(atob(...)))"
    strings:
        $a = "eval(function(p,a,c,k,e," ascii
        $b = /eval\s*\(\s*atob\s*\(/ ascii
        $c = /new\s+Function\s*\(\s*atob\s*\(/ ascii
    condition:
        any of them
}

rule crypto_miner
{
    meta:
        description = "cryptocurrency miner configuration or pool address"
    strings:
        $a = "stratum+tcp://" ascii nocase
        $b = "stratum+ssl://" ascii nocase
        $c = "xmrig" ascii nocase
    condition:
        any of them
}
