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
    "Site administration": "站点管理",
    "size": "大小",
    "The requested range is past the end of the file.": "请求的字节范围超出了文件末尾。",
    "No such project.": "项目不存在。",
    "Datasets": "数据集",
    "Upload CSV, TSV, JSON, JSON Lines, Parquet or Excel (.xlsx).": "请上传 CSV、TSV、JSON、JSON Lines、Parquet 或 Excel（.xlsx）文件。",
    "The file is empty.": "文件为空。",
    "Excel binary workbooks (.xlsb) are not supported: save it as .xlsx.": "不支持 Excel 二进制工作簿（.xlsb），请另存为 .xlsx。",
    "ZIP archives are not supported: upload the file inside it.": "不支持 ZIP 压缩包，请上传其中的文件。",
    "UTF-16 text is not supported: save the file as UTF-8.": "不支持 UTF-16 文本，请将文件另存为 UTF-8。",
    "The file is not UTF-8 or GB18030 (GBK) text: save it as UTF-8.": "文件不是 UTF-8 或 GB18030（GBK）文本，请另存为 UTF-8。",
    "This type of file is not supported.": "不支持该类型的文件。",
    "The Parquet file is truncated or damaged.": "Parquet 文件不完整或已损坏。",
    "The Excel file is truncated or damaged.": "Excel 文件不完整或已损坏。",
    "Line %(row)d is not valid UTF-8 text.": "第 %(row)d 行不是有效的 UTF-8 文本。",
    "Column %(column)d of the header (line %(row)d) has no name.": "表头（第 %(row)d 行）的第 %(column)d 列没有名称。",
    "Line %(row)d has %(found)d fields, but the header has %(expected)d.": "第 %(row)d 行有 %(found)d 个字段，而表头有 %(expected)d 个。",
    "The file has no header line.": "文件没有表头行。",
    "Line %(row)d is not valid %(encoding)s text.": "第 %(row)d 行不是有效的 %(encoding)s 文本。",
    "The JSON array is not closed.": "JSON 数组没有闭合。",
    "Record %(row)d is not a JSON object.": "第 %(row)d 条记录不是 JSON 对象。",
    "There is more text after the end of the JSON array.": "JSON 数组结束后还有多余的内容。",
    "The JSON array is empty: there are no records and no columns.": "JSON 数组为空：没有记录，也没有列。",
    "Record %(row)d is not valid JSON.": "第 %(row)d 条记录不是有效的 JSON。",
    "Line %(row)d is not valid JSON.": "第 %(row)d 行不是有效的 JSON。",
    "Line %(row)d is not a JSON object.": "第 %(row)d 行不是 JSON 对象。",
    "The Parquet file is damaged, or uses features that cannot be read.": "Parquet 文件已损坏，或使用了无法读取的特性。",
    "The column name “%(name)s” appears more than once (column %(column)d).": "列名“%(name)s”出现了不止一次（第 %(column)d 列）。",
    "The first sheet is empty.": "第一个工作表为空。",
    "The Excel file is damaged.": "Excel 文件已损坏。",
    "Row %(row)d, the header, has no column names.": "第 %(row)d 行（表头）没有列名。",
    "The file could not be read as CSV.": "无法按 CSV 格式读取该文件。",
    "The file could not be read as JSON Lines.": "无法按 JSON Lines 格式读取该文件。",
    "The file could not be read as JSON.": "无法按 JSON 格式读取该文件。",
    "Line %(line)d is not valid %(encoding)s text.": "第 %(line)d 行不是有效的 %(encoding)s 文本。",
    "The Excel file could not be read.": "无法读取该 Excel 文件。",
    "Column %(column)d of the header (row %(row)d) has no name.": "表头（第 %(row)d 行）的第 %(column)d 列没有名称。",
    "A pipeline is a list of steps.": "处理流程应为步骤列表。",
    "A pipeline needs at least one step.": "处理流程至少需要一个步骤。",
    "A pipeline has at most %(limit)d steps.": "处理流程最多 %(limit)d 个步骤。",
    "a step is an object with a type.": "每个步骤都应是带有 type 的对象。",
    "unknown step type %(type)s.": "未知的步骤类型 %(type)s。",
    "%(type)s has no field %(field)s.": "%(type)s 没有字段 %(field)s。",
    "%(type)s needs %(field)s.": "%(type)s 需要字段 %(field)s。",
    "Step %(number)d: %(problem)s": "第 %(number)d 步：%(problem)s",
    "%(field)s must be one of %(choices)s.": "%(field)s 必须是 %(choices)s 之一。",
    "%(field)s must be true or false.": "%(field)s 必须是 true 或 false。",
    "%(field)s must be a whole number from %(low)d to %(high)d.": "%(field)s 必须是 %(low)d 到 %(high)d 之间的整数。",
    "a column name is non-blank text of at most %(limit)d characters.": "列名必须是非空文本，最多 %(limit)d 个字符。",
    "there is no column %(column)s at this step.": "此步骤中没有列 %(column)s。",
    "%(step)s cannot use column %(column)s of type %(type)s.": "%(step)s 不能用于 %(type)s 类型的列 %(column)s。",
    "%(field)s must be a non-empty list of column names.": "%(field)s 必须是非空的列名列表。",
    "%(field)s names a column twice.": "%(field)s 中有重复的列。",
    "%(value)s is not a valid %(type)s value.": "%(value)s 不是有效的 %(type)s 值。",
    "dropping every column would leave nothing.": "删除全部列后将没有任何数据。",
    "mapping must be an object of old names to new names.": "mapping 必须是“旧列名 → 新列名”的对象。",
    "the new names collide with each other or with other columns.": "新列名彼此重复，或与其他列重名。",
    "a constant fill needs a value.": "常量填充需要提供 value。",
    "only a constant fill takes a value.": "只有常量填充才接受 value。",
    "%(op)s takes no value.": "%(op)s 不接受 value。",
    "%(op)s needs a value.": "%(op)s 需要 value。",
    "%(op)s needs a list of 1 to %(limit)d values.": "%(op)s 需要包含 1 到 %(limit)d 个值的列表。",
    "cast needs either columns or column.": "cast 需要 columns 或 column。",
    "column %(column)s of type %(type)s cannot become %(to)s.": "%(type)s 类型的列 %(column)s 无法转换为 %(to)s。",
    "categories must be an object of column names to lists of values.": "categories 必须是“列名 → 取值列表”的对象。",
    "%(column)s is not one of columns.": "%(column)s 不在 columns 之中。",
    "categories need a list of 1 to %(limit)d values per column.": "每列的 categories 需要 1 到 %(limit)d 个值。",
    "categories of %(column)s repeat a value.": "%(column)s 的 categories 中有重复的值。",
    "column %(column)s already exists.": "列 %(column)s 已存在。",
    "sample needs either n or fraction.": "sample 需要 n 或 fraction。",
    "fraction must be a number above 0 and at most 1.": "fraction 必须是大于 0 且不超过 1 的数。",
    "test_ratio must be a number between 0 and 1.": "test_ratio 必须是 0 到 1 之间的数。",
    "The pipeline could not run: %(error)s": "处理流程无法运行：%(error)s",
    "Step %(number)d: column %(column)s already exists.": "第 %(number)d 步：列 %(column)s 已存在。",
    "The file cannot be read.": "无法读取该文件。",
    "This project already has a dataset with this name.": "该项目中已有同名数据集。",
    "This version is not ready: it is still processing or it failed.": "该版本尚未就绪：仍在处理中或处理失败。",
    "This version is in use and cannot be deleted.": "该版本正在被使用，无法删除。",
    "This upload has already been completed, aborted or has expired.": "该上传已完成、已中止或已过期。",
    "The uploaded object does not match what was announced.": "上传的对象与声明的信息不符。",
    "Direct uploads need object storage (S3); upload the file to this API instead.": "直传需要对象存储（S3），请改为通过本接口上传文件。",
    "This copy of the version is still being prepared; try again in a few seconds.": "该版本的此副本仍在生成中，请几秒后重试。",
    "created by": "创建者",
    "latest version": "最新版本",
    "last version number": "最后的版本号",
    "version count": "版本数",
    "dataset": "数据集",
    "datasets": "数据集",
    "Processing": "处理中",
    "Ready": "就绪",
    "Failed": "失败",
    "Upload": "上传",
    "Direct upload to object storage": "直传对象存储",
    "Preprocessing pipeline": "预处理流程",
    "Running": "运行中",
    "number": "编号",
    "progress": "进度",
    "error code": "错误码",
    "error message": "错误信息",
    "error details": "错误详情",
    "source": "来源",
    "file name": "文件名",
    "format": "格式",
    "content type": "内容类型",
    "encoding": "编码",
    "delimiter": "分隔符",
    "SHA-256": "SHA-256",
    "original file": "原始文件",
    "Parquet copy": "Parquet 副本",
    "Parquet size": "Parquet 大小",
    "Parquet SHA-256": "Parquet SHA-256",
    "CSV export": "CSV 导出",
    "CSV size": "CSV 大小",
    "CSV SHA-256": "CSV SHA-256",
    "row count": "行数",
    "columns": "列",
    "parent": "父版本",
    "parent number": "父版本号",
    "pipeline": "处理流程",
    "profile status": "画像状态",
    "profile progress": "画像进度",
    "profile": "数据画像",
    "profile error": "画像错误",
    "ready at": "就绪时间",
    "profiled at": "画像完成时间",
    "dataset version": "数据集版本",
    "dataset versions": "数据集版本",
    "Aborted": "已中止",
    "object name": "对象名",
    "upload id": "上传 ID",
    "part size": "分片大小",
    "part count": "分片数",
    "version": "版本",
    "dataset upload": "数据集上传",
    "dataset uploads": "数据集上传",
    "no such column in this version.": "该版本中没有这一列。",
    "Send the data as a file (multipart/form-data).": "请以文件形式（multipart/form-data）发送数据。",
    "The submitted file is empty.": "提交的文件为空。",
    "Version %(number)d is used by %(what)s.": "版本 %(number)d 正被 %(what)s 使用。",
    "At most %(n)d bytes.": "最多 %(n)d 字节。",
    "The object has %(got)d bytes where %(want)d were announced.": "对象大小为 %(got)d 字节，而声明的是 %(want)d 字节。",
    "The uploaded file's SHA-256 does not match the one announced.": "上传文件的 SHA-256 与声明的不一致。",
    "The file could not be converted.": "无法转换该文件。",
    "The version this one is made from was deleted before it was built.": "该版本所基于的版本在生成前已被删除。",
    "The pipeline could not be run.": "无法运行该处理流程。",
    "The profile could not be computed.": "无法计算数据画像。",
    "Legacy Excel (.xls) files and password-protected workbooks are not supported: save it as .xlsx.": "不支持旧版 Excel（.xls）文件和受密码保护的工作簿，请另存为 .xlsx。",
    "A JSON file must hold an array of objects, or one object per line (JSON Lines).": "JSON 文件必须是对象数组，或每行一个对象（JSON Lines）。",
    "Line %(row)d is not valid CSV: a quote is not closed, or is followed by other characters.": "第 %(row)d 行不是有效的 CSV：引号没有闭合，或引号后紧跟着其他字符。",
    "The column name “%(name)s” appears more than once in the header (column %(column)d).": "列名“%(name)s”在表头中出现了不止一次（第 %(column)d 列）。",
    "Record %(row)d: the column “%(column)s” mixes objects, lists and plain values.": "第 %(row)d 条记录：列“%(column)s”混用了对象、列表和普通值。",
    "Step %(number)d: value %(value)s of column %(column)s is not a valid %(to)s.": "第 %(number)d 步：列 %(column)s 的值 %(value)s 不是有效的 %(to)s。",
    "Step %(number)d: column %(column)s has %(count)d values, more than max_categories (%(limit)d).": "第 %(number)d 步：列 %(column)s 有 %(count)d 个不同的值，超过了 max_categories（%(limit)d）。",
    "%(problem)s %(advice)s": "%(problem)s%(advice)s",
}


def _unfuzzy(out: list[str], msgid_lines: int = 1) -> None:
    """Drop the fuzzy flag (and gettext's guess of the previous msgid) of the entry whose msgid was just
    appended: a filled entry left fuzzy is never compiled, so its English would reach Chinese users."""
    index = len(out) - 1 - msgid_lines
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
    """Write each msgid's translation into the catalogue; returns the msgids the table lacks. A long msgid is
    wrapped by makemessages over several lines (msgid "" then continuation lines): it is joined first."""
    lines = po_path.read_text(encoding="utf-8").splitlines()
    missing: list[str] = []
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith('msgid "'):
            out.append(line)
            i += 1
            continue
        parts = [line[len('msgid "') : -1]]
        j = i + 1
        while j < len(lines) and lines[j].startswith('"'):
            parts.append(lines[j][1:-1])
            j += 1
        msgid = "".join(parts).replace('\\"', '"')
        if msgid == "" or j >= len(lines) or not lines[j].startswith("msgstr"):
            out.extend(lines[i:j])  # the header entry, or a plural form: left as it is
            i = j
            continue
        out.extend(lines[i:j])
        k = j + 1
        while k < len(lines) and lines[k].startswith('"'):
            k += 1  # a wrapped msgstr: replaced whole
        if msgid in ZH:
            _unfuzzy(out, j - i)
            out.append('msgstr "' + ZH[msgid].replace('"', '\\"') + '"')
        else:
            missing.append(msgid)
            out.extend(lines[j:k])
        i = k
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
