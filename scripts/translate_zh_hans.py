"""Fill locale/zh_Hans/LC_MESSAGES/django.po from the table below, then compile it.

Run after `manage.py makemessages -l zh_Hans --no-location --ignore='.venv/*'`; an msgid missing from the
table is reported and the script exits non-zero, so no English string reaches a Chinese user unnoticed.
"""

import sys
from pathlib import Path

from django.core.management import call_command

ZH = {
    "Ensure this value has at most %(limit)d characters (it has %(count)d).": "请确保该值最多 %(limit)d 个字符（当前 %(count)d 个）。",
    "token generation": "令牌代次",
    "The request body did not arrive in time.": "请求体未在规定时间内送达。",
    "Idempotent requests": "幂等请求",
    "This Idempotency-Key was already used with another request.": "该 Idempotency-Key 已用于另一个不同的请求。",
    "key": "键",
    "fingerprint": "指纹",
    "status code": "状态码",
    "response body": "响应体",
    "location": "位置",
    "expires at": "过期时间",
    "idempotent request": "幂等请求",
    "idempotent requests": "幂等请求",
    "Use 1 to 255 printable ASCII characters, such as a UUID.": "请使用 1 到 255 个可打印 ASCII 字符，例如 UUID。",
    "Too many failed logins. Please try again later.": "登录失败次数过多，请稍后再试。",
    "Binary frames are not accepted; send JSON text.": "不接受二进制帧，请发送 JSON 文本。",
    "The message is not valid JSON.": "消息不是有效的 JSON。",
    "A message must be a JSON object.": "消息必须是 JSON 对象。",
    "Unknown message type.": "未知的消息类型。",
    "No such WebSocket path.": "不存在该 WebSocket 路径。",
    "Incubator API": "孵化器 API",
    "The backend of the AI project incubator.": "AI 项目孵化器的后端服务。",
    "A REST API under /api/v1/, live updates over WebSocket.": "REST API 位于 /api/v1/，实时更新通过 WebSocket 推送。",
    "API documentation": "接口文档",
    "try every endpoint in the browser": "在浏览器中调试每个接口",
    "the reference, to read": "便于阅读的接口参考",
    "OpenAPI document": "OpenAPI 文档",
    "for code generators": "供代码生成工具使用",
    "Operations": "运维",
    "Administration": "管理后台",
    "Health check": "健康检查",
    "Incubator profile": "孵化器资料",
    "Letters, digits and @/./+/-/_ only.": "只能包含字母、数字和 @/./+/-/_。",
    "Give your email or username.": "请填写邮箱或用户名。",
    "Only http and https addresses are allowed.": "只允许 http 和 https 地址。",
    "Accounts": "账户",
    "An account with this email or username already exists.": "该邮箱或用户名已被注册。",
    "Incorrect username/email or password.": "用户名/邮箱或密码错误。",
    "The current password is incorrect.": "当前密码不正确。",
    "Member": "成员",
    "Mentor": "导师",
    "email address": "邮箱地址",
    "display name": "显示名称",
    "avatar URL": "头像地址",
    "bio": "简介",
    "locale": "语言",
    "role": "角色",
    "user": "用户",
    "users": "用户",
    "Invalid input.": "输入参数无效",
    "Malformed request body.": "请求体格式错误，无法解析。",
    "Authentication credentials were not provided.": "身份认证信息未提供。",
    "Incorrect authentication credentials.": "身份认证信息不正确。",
    "Token is invalid or expired.": "令牌无效或已过期。",
    "You do not have permission to perform this action.": "您没有执行该操作的权限。",
    "Not found.": "未找到。",
    "Method not allowed.": "不允许使用该请求方法。",
    "Could not satisfy the request Accept header.": "无法满足请求的 Accept 头。",
    "The request conflicts with the current state.": "请求与当前状态冲突。",
    "Request body is too large.": "请求体过大。",
    "Unsupported media type.": "不支持的媒体类型。",
    "Too many requests. Please try again later.": "请求过于频繁，请稍后再试。",
    "Internal server error.": "服务器内部错误。",
    "Service temporarily unavailable.": "服务暂时不可用。",
    "Unknown ordering field(s): %(fields)s. Allowed: %(allowed)s.": "未知的排序字段：%(fields)s。可用字段：%(allowed)s。",
    "Must be a positive integer.": "必须是正整数。",
    "Page %(page)d is past the last page (%(last)d).": "第 %(page)d 页超出了最后一页（%(last)d）。",
    "Simplified Chinese": "简体中文",
    "English": "英语",
    "Projects": "项目",
    "This project is not recruiting.": "该项目当前不在招募中。",
    "You already have a pending application to this project.": "你已经有一个待处理的加入申请。",
    "This user is already a member of the project.": "该用户已经是项目成员。",
    "This application has already been decided or withdrawn.": "该申请已被处理或已撤回。",
    "The owner cannot be removed or demoted; transfer ownership first.": "不能移除或降级项目负责人，请先转让所有权。",
    "Ownership can only be transferred to a member of the project.": "所有权只能转让给项目成员。",
    "Recruiting": "招募中",
    "In progress": "进行中",
    "Completed": "已完成",
    "Public": "公开",
    "Private": "私有",
    "name": "名称",
    "description": "描述",
    "video URL": "视频地址",
    "status": "状态",
    "visibility": "可见性",
    "owner": "负责人",
    "tags": "标签",
    "member count": "成员数",
    "created at": "创建时间",
    "updated at": "更新时间",
    "project": "项目",
    "projects": "项目",
    "tag": "标签",
    "Owner": "负责人",
    "Maintainer": "维护者",
    "joined at": "加入时间",
    "membership": "成员关系",
    "memberships": "成员关系",
    "Pending": "待处理",
    "Approved": "已通过",
    "Rejected": "已拒绝",
    "Withdrawn": "已撤回",
    "message": "留言",
    "decision reason": "处理理由",
    "decided at": "处理时间",
    "join application": "加入申请",
    "join applications": "加入申请",
    "Expected a list of strings.": "应为字符串列表。",
    "Each tag must be a string.": "每个标签都必须是字符串。",
    "A tag has at most %(n)d characters.": "每个标签最多 %(n)d 个字符。",
    "At most %(n)d tags.": "最多 %(n)d 个标签。",
    "No active user with this id.": "不存在该 ID 的有效用户。",
    "Use the ownership transfer to make someone the owner.": "请使用所有权转让来指定负责人。",
    "JSON nested too deeply.": "JSON 嵌套层级过深。",
    "search text": "搜索文本",
    "schema version": "数据结构版本",
    "project tag": "项目标签",
    "project tags": "项目标签",
    "applicant": "申请人",
    "decided by": "处理人",
    "ID": "ID",
    "type": "类型",
    "topic": "主题",
    "subject type": "对象类型",
    "subject ID": "对象 ID",
    "actor ID": "操作者 ID",
    "payload": "内容",
    "outbox event": "发件箱事件",
    "outbox events": "发件箱事件",
    "Events (outbox)": "事件（发件箱）",
    "Incubator administration": "孵化器管理",
    "Separated by commas, for example: 机器学习, NLP": "用逗号分隔，例如：机器学习, NLP",
    "Change the project's owner to transfer ownership.": "修改项目负责人即可转让所有权。",
    "Changed by an admin action.": "由管理操作修改。",
    "Done: %(done)d of %(total)d selected.": "已完成：所选 %(total)d 项中的 %(done)d 项。",
    "Make selected projects public": "将所选项目设为公开",
    "Make selected projects private": "将所选项目设为私有",
    "Mark selected projects completed": "将所选项目标记为已完成",
    "Approve selected applications (as members)": "通过所选申请（加入为成员）",
    "Reject selected applications": "拒绝所选申请",
    "A tag needs a name.": "标签名称不能为空。",
    "A tag with this name already exists.": "已存在同名标签。",
    "End all sessions of selected users": "结束所选用户的全部登录会话",
    "Deactivate selected users (and end their sessions)": "停用所选用户（并结束其登录会话）",
    "members": "成员",
}


def _unfuzzy(out: list[str]) -> None:
    """Drop the fuzzy flag (and gettext's guess of the previous msgid) of the entry whose msgid was just
    appended: a filled entry left fuzzy is never compiled, so its English would reach Chinese users."""
    index = len(out) - 2
    while index >= 0 and out[index].startswith("#"):
        line = out[index]
        if line.startswith("#|"):
            del out[index]
        elif line.startswith("#,"):
            flags = [flag.strip() for flag in line[2:].split(",") if flag.strip() and flag.strip() != "fuzzy"]
            if flags:
                out[index] = "#, " + ", ".join(flags)
            else:
                del out[index]
        index -= 1


def fill(po_path: Path) -> list[str]:
    lines = po_path.read_text(encoding="utf-8").splitlines()
    missing, out, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        if (
            line.startswith('msgid "')
            and line != 'msgid ""'
            and i + 1 < len(lines)
            and lines[i + 1].startswith("msgstr")
        ):
            msgid = line[len('msgid "') : -1].replace('\\"', '"')
            if msgid in ZH:
                _unfuzzy(out)
                out.append('msgstr "' + ZH[msgid].replace('"', '\\"') + '"')
            else:
                missing.append(msgid)
                out.append(lines[i + 1])
            i += 2
            continue
        i += 1
    text = "\n".join(out) + "\n"
    text = text.replace("#, fuzzy\n", "", 1).replace(
        '"Content-Type: text/plain; charset=CHARSET\\n"', '"Content-Type: text/plain; charset=UTF-8\\n"'
    )
    po_path.write_text(text, encoding="utf-8")
    return missing


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    django.setup()
    po = Path(__file__).resolve().parent.parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    missing = fill(po)
    call_command("compilemessages", locale=["zh_Hans"], ignore_patterns=[".venv/*"], verbosity=0)
    if missing:
        print("untranslated:", *missing, sep="\n  ")
        sys.exit(1)
